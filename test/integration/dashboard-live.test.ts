// The dashboard's live feed in Chromium when the world is unlucky: the token kept out of URLs, a UI server that
// restarts, a stream a proxy holds open but stops passing, steady traffic, a token given late.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import OpenAI from 'openai';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, pollPage, WAIT, watchedPage } from '../helpers/browser.ts';
import { startHarness, type Harness, type HarnessOptions } from '../helpers/harness.ts';
import { startStallProxy } from '../helpers/stall-proxy.ts';

const TOKEN = 'live-ui-token';
/** `w` may make one call an hour: every later call is blocked and lands in the feed as an intervention. */
const AGENTS: HarnessOptions['agents'] = { w: { budget: { limit_usd: 100, window: '1h', limits: [{ max_requests: 1, window: '1h' }] } } };
const BLOCKS = `document.querySelectorAll('#feed-list li[data-kind="block"]').length`;

async function chat(h: Harness): Promise<number> {
  const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('w'), maxRetries: 0, timeout: 10_000 });
  try {
    await client.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
    return 200;
  } catch (error) {
    if (error instanceof OpenAI.APIError && typeof error.status === 'number') return error.status;
    throw error;
  }
}

async function blockedCall(h: Harness): Promise<void> {
  assert.equal(await chat(h), 429);
}

async function blocksShown(page: Page): Promise<number> {
  return (await page.evaluate(BLOCKS)) as number;
}

/** Waits (from the test side, so a paused page clock does not matter) until the feed shows `count` blocks. */
function untilBlocks(page: Page, count: number): Promise<void> {
  return pollPage(page, `${BLOCKS} === ${count}`, `${count} blocks in the feed`);
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe('dashboard live feed', { timeout: 180_000 }, () => {
  let h: Harness;
  let browser: Browser;

  before(async () => {
    h = await startHarness({ agents: AGENTS, env: { CLLAMA_UI_TOKEN: TOKEN } });
    assert.equal(await chat(h), 200);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await h?.close();
  });

  it('trades a token from #token= for the session cookie: no request carries it in its URL, and the feed is live', async () => {
    const { page, errors } = await watchedPage(browser);
    const urls: string[] = [];
    page.on('request', (request) => urls.push(request.url()));
    await page.goto(`${h.tollgate.uiUrl}/#token=${TOKEN}`);
    await page.waitForSelector('#live-status[data-state="live"]', WAIT);
    const before = await blocksShown(page);
    await blockedCall(h);
    await untilBlocks(page, before + 1);
    const apiUrls = urls.filter((url) => new URL(url).pathname.startsWith('/api/'));
    assert.ok(
      apiUrls.some((url) => new URL(url).pathname === '/api/events'),
      'the feed was opened',
    );
    assert.deepEqual(
      apiUrls.filter((url) => url.includes(TOKEN)),
      [],
      'the token is in no URL',
    );
    assert.deepEqual(errors, []);
  });

  it('answers POST /api/session with the cookie for the right bearer only', async () => {
    const url = `${h.tollgate.uiUrl}/api/session`;
    const right = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(right.status, 204);
    assert.match(right.headers.get('set-cookie') ?? '', /^tollgate_ui_session=[\w-]+; HttpOnly; SameSite=Strict; Path=\/$/);
    assert.ok(!(right.headers.get('set-cookie') ?? '').includes(TOKEN), 'the cookie is not the token');
    const wrong = await fetch(url, { method: 'POST', headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('set-cookie'), null);
    assert.equal((await fetch(url, { method: 'POST' })).status, 401);
    const quoted = await fetch(`${h.tollgate.uiUrl}/api/agents/${encodeURIComponent('<img src=x onerror=alert(1)>')}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(quoted.status, 404);
    assert.equal(quoted.headers.get('x-content-type-options'), 'nosniff', 'an error quoting the request is never sniffed as HTML');
    await quoted.arrayBuffer();
    assert.equal((await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 405);
    const open = await startHarness({ agents: AGENTS });
    try {
      const answer = await fetch(`${open.tollgate.uiUrl}/api/session`, { method: 'POST' });
      assert.equal(answer.status, 204, 'without a token there is nothing to sign in to');
      assert.equal(answer.headers.get('set-cookie'), null);
    } finally {
      await open.close();
    }
  });

  it('goes live as soon as the token is given in the prompt', async () => {
    const { page, errors } = await watchedPage(browser, { ignoreUnauthorized: true });
    page.on('dialog', (dialog) => void dialog.accept(TOKEN));
    await page.goto(`${h.tollgate.uiUrl}/`);
    await page.waitForSelector('table.agents tbody tr', WAIT);
    await page.waitForSelector('#live-status[data-state="live"]', WAIT);
    assert.deepEqual(errors, []);
  });

  it('reopens a feed that a proxy holds open but stopped passing', async () => {
    const proxy = await startStallProxy(h.tollgate.uiUrl);
    try {
      const { page, errors } = await watchedPage(browser);
      await page.clock.install();
      await page.goto(`${proxy.url}/?token=${TOKEN}`);
      await page.waitForSelector('#live-status[data-state="live"]', WAIT);
      const before = await blocksShown(page);
      const connections = proxy.feedConnections;
      proxy.freezeFeeds();
      await blockedCall(h);
      // a minute without a word (the server pings every 15 s): the page reconnects and gets what it missed
      await page.clock.fastForward(60_000);
      await untilBlocks(page, before + 1);
      assert.ok(proxy.feedConnections > connections, 'a new stream was opened');
      await page.waitForSelector('#live-status[data-state="live"]', WAIT);
      assert.deepEqual(errors, []);
    } finally {
      await proxy.close();
    }
  });

  it('refreshes the numbers while events keep coming, not only once they pause', async () => {
    const { page, errors } = await watchedPage(browser);
    const started = { agents: 0, pending: 0 };
    const isView = (url: string) => /\/api\/(agents|summary|shared)$/.test(new URL(url).pathname);
    page.on('request', (request) => {
      if (!isView(request.url())) return;
      started.pending += 1;
      if (new URL(request.url()).pathname === '/api/agents') started.agents += 1;
    });
    const settled = (request: import('playwright-core').Request) => {
      if (isView(request.url())) started.pending -= 1;
    };
    page.on('requestfinished', settled);
    page.on('requestfailed', settled);
    await page.clock.install();
    await page.goto(`${h.tollgate.uiUrl}/?token=${TOKEN}`);
    await page.waitForSelector('#live-status[data-state="live"]', WAIT);
    await page.waitForSelector('table.agents tbody tr', WAIT);
    // page timers stop here: only runFor moves them; what was due (the refresh after the replay) runs first
    await page.clock.pauseAt(Date.now() + 1_000);
    const deadline = Date.now() + WAIT.timeout;
    while (started.pending > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const baseline = started.agents;
    // an event every 300 ms of page time, for up to 9 s (the 15 s poll stays out of reach): a refresh that waits for a
    // 400 ms pause never comes; one with a longest wait (2 s, more when a refresh takes long) does
    for (let step = 0; step < 30 && started.agents === baseline; step++) {
      const before = await blocksShown(page);
      await blockedCall(h);
      await untilBlocks(page, before + 1);
      await page.clock.runFor(300);
      const settle = Date.now() + 200; // the refresh's first request, if one started, reaches the test
      while (started.agents === baseline && Date.now() < settle) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(started.agents > baseline, 'the agents were read again during the stream of events');
    assert.deepEqual(errors, []);
  });
});

describe('dashboard live feed across a restart of the UI server', { timeout: 120_000 }, () => {
  it('keeps showing new interventions after the UI server restarts (new process, same port)', async () => {
    const port = await freePort();
    let h = await startHarness({ agents: AGENTS, env: { CLLAMA_UI_TOKEN: TOKEN, UI_ADDR: `127.0.0.1:${port}` } });
    // launched inside the try: a browser that cannot start must still close the harness, or its child process and
    // servers keep this file alive until the runner's file timeout (it waited 600 s for a missing Chromium)
    let browser: Browser | undefined;
    try {
      browser = await launchBrowser();
      assert.equal(await chat(h), 200);
      for (let i = 0; i < 4; i++) await blockedCall(h);
      const { page, errors } = await watchedPage(browser);
      let feedRequests = 0;
      page.on('request', (request) => {
        if (new URL(request.url()).pathname === '/api/events') feedRequests += 1;
      });
      await page.goto(`${h.tollgate.uiUrl}/?token=${TOKEN}`);
      await page.waitForSelector('#live-status[data-state="live"]', WAIT);
      await untilBlocks(page, 4);
      const requestsBefore = feedRequests;
      h = await h.restart();
      // the page reconnects by itself (EventSource retries) to the new process, whose feed starts afresh
      const deadline = Date.now() + 45_000;
      while (feedRequests === requestsBefore && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.ok(feedRequests > requestsBefore, 'the page reconnected');
      await page.waitForSelector('#live-status[data-state="live"]', { timeout: 45_000 });
      await blockedCall(h);
      await untilBlocks(page, 5);
      assert.deepEqual(
        errors.filter((error) => !/ERR_CONNECTION_REFUSED|net::ERR_/.test(error)),
        [],
      );
    } finally {
      await browser?.close();
      await h.close();
    }
  });
});
