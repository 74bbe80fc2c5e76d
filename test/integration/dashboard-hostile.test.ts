// The dashboard in Chromium fed what agents and files can put in it: markup, quotes, bidi overrides, huge strings and
// numbers, unknown costs, malformed addresses. Nothing runs, nothing reorders the text around it, the layout holds.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import type { Browser, Page } from 'playwright-core';
import { buildHistoryEntry, serializeHistoryEntry } from '../../src/history/entry.ts';
import { launchBrowser, WAIT, watchedPage } from '../helpers/browser.ts';
import { startHarness, type Harness, type HarnessOptions } from '../helpers/harness.ts';

const TOKEN = 'hostile-ui-token';
const LONG_ID = `l${'o'.repeat(126)}g`;
const RLO = '\u202E';
/**
 * What the first four of evil's calls ask for (they pass), then two that its request limit blocks (they reach the feed).
 * A model with a direction control is refused before it reaches anything (400 invalid_model_name); one in history
 * written before that (seeded below) still reaches the agent's page.
 */
const PASSING_MODELS = [
  'openai/<img src=x onerror="window.__pwned=1">',
  'openai/\'"`</script><script>window.__pwned=2</script>',
  'openai/&lt;b&gt;&amp;gpt-4o',
  `openai/${'x'.repeat(3000)}`,
];
const BLOCKED_MODELS = [`openai/${'y'.repeat(5000)}`, 'openai/<img src=x onerror="window.__pwned=3">'];
const BIDI_MODEL = `openai/${RLO}gpt-4o`;
const AGENTS: HarnessOptions['agents'] = {
  evil: { pod: `<img src=x onerror="window.__pwned=4">${RLO}pod`, budget: { limit_usd: 1000, window: '1h', limits: [{ max_requests: 4, window: '1h' }] } },
  unpriced: { pod: 'plain' },
  [LONG_ID]: { pod: 'p'.repeat(3000) },
  huge: { pod: 'plain', budget: { limit_usd: 9_007_199_254, window: '24h' } },
};
/** Text the page shows that still holds a direction override or isolate (they must be written out, not obeyed). */
const BIDI_IN_TEXT = String.raw`/[\u202A-\u202E\u2066-\u2069]/.test(document.body.innerText)`;
/**
 * What long strings widen, described: the page, and any line of text that shows one (agent and pod names, models,
 * reasons) when it runs past 720 px. (A table of huge numbers may scroll sideways in its card on a narrow window; that
 * is not what this checks.)
 */
const OVERFLOWING = `[
  ...(document.documentElement.scrollWidth > window.innerWidth + 1 ? ['page: ' + document.documentElement.scrollWidth] : []),
  ...[...document.querySelectorAll('.untrusted, table.agents td:first-child .sub, #pods td:first-child > *, table.calls td.model .mono, #feed-list .detail > *')]
    .filter((element) => [...element.getClientRects()].some((line) => line.width > 720) || element.scrollWidth > element.clientWidth + 1)
    .map((element) => element.tagName + '.' + element.className + ': ' + element.textContent.slice(0, 30)),
]`;

/** Seeds `huge` with two calls of 2^51 micro-dollars and 2^50 tokens each (the ledger is rebuilt from history at start). */
function seedHuge(root: string): void {
  const dir = join(root, 'history', 'huge');
  mkdirSync(dir, { recursive: true });
  const now = Date.now();
  const lines = [0, 1].map((index) =>
    serializeHistoryEntry(
      buildHistoryEntry({
        requestId: `seed-huge-${index}`,
        startedAt: now - (20 - index) * 60_000,
        agentId: 'huge',
        path: '/v1/chat/completions',
        requestedModel: 'openai/gpt-4o',
        effectiveProvider: 'openai',
        effectiveModel: 'gpt-4o',
        statusCode: 200,
        stream: false,
        response: { format: 'json', json: {} },
        usage: { inputTokens: 2 ** 50, outputTokens: 2 ** 50 },
        price: { costMicros: 2 ** 51, source: 'price_table' },
        latencyMs: 900,
        outcome: 'complete',
      }),
    ),
  );
  appendFileSync(join(dir, 'history.jsonl'), `${lines.join('\n')}\n`);
  // a call of evil's two hours ago (outside its 1h request limit) to a model with a direction override
  const evilDir = join(root, 'history', 'evil');
  mkdirSync(evilDir, { recursive: true });
  appendFileSync(
    join(evilDir, 'history.jsonl'),
    `${serializeHistoryEntry(
      buildHistoryEntry({
        requestId: 'seed-evil-bidi',
        startedAt: now - 2 * 3_600_000,
        agentId: 'evil',
        path: '/v1/chat/completions',
        requestedModel: BIDI_MODEL,
        effectiveProvider: 'openai',
        effectiveModel: `${RLO}gpt-4o`,
        statusCode: 200,
        stream: false,
        response: { format: 'json', json: {} },
        usage: { inputTokens: 10, outputTokens: 5 },
        price: null,
        latencyMs: 9,
        outcome: 'complete',
      }),
    )}\n`,
  );
  rmSync(join(root, 'history', '_ledger'), { recursive: true, force: true });
}

async function chat(h: Harness, agent: string, model: string): Promise<number> {
  const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token(agent), maxRetries: 0, timeout: 10_000 });
  try {
    await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
    return 200;
  } catch (error) {
    if (error instanceof OpenAI.APIError && typeof error.status === 'number') return error.status;
    throw error;
  }
}

describe('dashboard under hostile input', { timeout: 180_000 }, () => {
  let h: Harness;
  let browser: Browser;

  before(async () => {
    const options: HarnessOptions = { agents: AGENTS, env: { CLLAMA_UI_TOKEN: TOKEN } };
    const first = await startHarness(options);
    await first.tollgate.close();
    seedHuge(first.root);
    h = await startHarness(options, { root: first.root, fake: first.fake });
    const statuses = [];
    for (const model of [...PASSING_MODELS, ...BLOCKED_MODELS]) statuses.push(await chat(h, 'evil', model));
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
    assert.equal(await chat(h, 'evil', BIDI_MODEL), 400, 'a direction control in a model name is refused');
    for (let i = 0; i < 2; i++) assert.equal(await chat(h, 'unpriced', 'openai/no-price-for-this-model'), 200);
    const put = await fetch(`${h.tollgate.uiUrl}/api/agents/evil/override`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ limit_usd: 500, window: '1h', reason: `<b>launch</b> ${RLO}week`, set_by: '</script>' }),
    });
    assert.equal(put.status, 200);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await h?.close();
  });

  async function signedIn(path: string): Promise<{ page: Page; errors: string[] }> {
    const watched = await watchedPage(browser);
    await watched.page.goto(`${h.tollgate.uiUrl}/?token=${TOKEN}${path}`);
    return watched;
  }

  async function assertInert(page: Page, where: string): Promise<void> {
    assert.equal(await page.evaluate('window.__pwned'), undefined, `${where}: no injected script ran`);
    assert.equal(await page.evaluate(`document.querySelectorAll('img, iframe, object, embed').length`), 0, `${where}: no element made of data`);
    assert.equal(await page.evaluate('document.scripts.length'), 1, `${where}: only the page's own module`);
    assert.equal(await page.evaluate(BIDI_IN_TEXT), false, `${where}: direction controls are written out, not obeyed`);
    assert.deepEqual(await page.evaluate(OVERFLOWING), [], `${where}: no long string widens a line or the page`);
  }

  it('keeps the overview inert and in shape: markup as text, bidi isolated, long strings cut, unknown never $0', async () => {
    const { page, errors } = await signedIn('');
    await page.waitForSelector(`tr[data-agent="${LONG_ID}"]`, WAIT);
    await page.waitForFunction((count) => document.querySelectorAll('#feed-list li[data-kind="block"]').length === count, 2, WAIT);
    await page.waitForSelector('#feed-list li[data-kind="override"]', WAIT);
    await assertInert(page, 'overview');
    assert.equal(await page.textContent('#pod'), '', 'agents in several pods and no CLAW_POD: no pod is named as the pod');
    const pod = await page.$eval('tr[data-agent="evil"] td:first-child .sub .untrusted', (element) => [element.textContent, element.getAttribute('title')]);
    assert.deepEqual(
      pod,
      ['<img src=x onerror="window.…', '<img src=x onerror="window.__pwned=4">‹U+202E›pod'],
      'the pod is shown as the text it is, cut short',
    );
    assert.ok(
      (await page.$eval(`tr[data-agent="${LONG_ID}"] td:first-child`, (cell) => cell.getBoundingClientRect().width)) < 400,
      'a long id and pod keep the column narrow',
    );
    const details = await page.$$eval('#feed-list li[data-kind="block"] .detail', (items) => items.map((item) => item.textContent ?? ''));
    assert.ok(
      details.every((detail) => detail.length < 200),
      `feed details are cut short: ${details.map((detail) => detail.length)}`,
    );
    assert.ok(
      details.some((detail) => detail.startsWith('openai/<img src=x')),
      'the blocked model is shown as text',
    );
    const override = await page.textContent('#feed-list li[data-kind="override"] .detail');
    assert.equal(override, '$500.00 per 1h by </script>: <b>launch</b> ‹U+202E›week');

    assert.equal(await page.textContent('tr[data-agent="unpriced"] [data-field="spend"] .big'), 'unknown', 'spend of only unpriced calls is unknown, not $0');
    assert.match((await page.textContent('tr[data-agent="unpriced"] [data-field="total_cost"]')) ?? '', /^unknown2 calls · 2 unpriced$/);
    assert.equal(await page.textContent('tr[data-pod="plain"] td:nth-child(5)'), '$4,503,599,627', "the pod's recorded cost holds huge and unpriced");
    assert.deepEqual(errors, []);
  });

  it("keeps an agent's page inert and in shape", async () => {
    const { page, errors } = await signedIn('#/agents/evil');
    await page.waitForSelector('.agent-page[data-agent="evil"] table.calls', WAIT);
    await page.waitForSelector('#feed-list li[data-kind="block"]', WAIT);
    await assertInert(page, "evil's page");
    const models = await page.$$eval('table.calls td.model .mono', (cells) => cells.map((cell) => cell.textContent ?? ''));
    assert.ok(models.includes('openai/<img src=x onerror="window.__pwned=1">'));
    assert.ok(models.includes('openai/‹U+202E›gpt-4o'));
    assert.ok(
      models.every((model) => model.length <= 80),
      'long models are cut',
    );
    assert.equal(await page.textContent('.meta .untrusted'), '<img src=x onerror="window.__pwned=4">‹U+202E›pod');
    assert.equal(
      await page.textContent('.override-card'),
      'Governance override · <b>launch</b> ‹U+202E›week · set by </script>' + (await page.textContent('.override-card .limit-source')),
    );
    assert.deepEqual(errors, []);
  });

  it('says unknown, not $0, for an agent whose calls have no price', async () => {
    const { page, errors } = await signedIn('#/agents/unpriced');
    await page.waitForSelector('.agent-page[data-agent="unpriced"] svg.chart', WAIT);
    assert.equal(await page.textContent('[data-field="chart_total"]'), 'unknown');
    assert.deepEqual(await page.$$eval('.tile[data-window] .value', (tiles) => tiles.map((tile) => tile.textContent)), ['unknown']);
    assert.equal(await page.textContent('.meta [data-field="total_cost"]'), 'unknown');
    assert.deepEqual(errors, []);
  });

  it('fits huge amounts: the spend axis labels stay inside the chart, tokens in T', async () => {
    const { page, errors } = await signedIn('#/agents/huge');
    await page.waitForSelector('.agent-page[data-agent="huge"] svg.chart', WAIT);
    const lefts = await page.$$eval('svg.chart text.axis', (labels) => labels.map((label) => (label as SVGTextElement).getBBox().x));
    assert.ok(
      lefts.every((x) => x >= 0),
      `axis labels start inside the chart: ${lefts.join(', ')}`,
    );
    assert.match((await page.textContent('.tile[data-window="24h"] .sub')) ?? '', /^2 requests · 2,252T in \/ 2,252T out$/);
    await assertInert(page, "huge's page");
    assert.deepEqual(errors, []);
  });

  it('shows a page for addresses that name no agent, and survives malformed percent-encoding', async () => {
    for (const hash of ['#/agents/%E0%A4%A', '#/agents/.', '#/agents/..']) {
      const { page, errors } = await signedIn(hash);
      await page.waitForSelector('#not-found', WAIT);
      assert.deepEqual(errors, [], hash);
      await page.context().close();
    }
    const { page, errors } = await watchedPage(browser, { ignoreUnauthorized: true });
    page.on('dialog', (dialog) => void dialog.dismiss());
    await page.goto(`${h.tollgate.uiUrl}/#token=%E0%A4%A`);
    await page.waitForSelector('#banner:not([hidden])', WAIT);
    assert.equal(new URL(page.url()).hash, '#/', 'the token is taken out of the address');
    assert.deepEqual(errors, []);
  });
});
