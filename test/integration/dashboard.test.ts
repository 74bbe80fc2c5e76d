// The dashboard in a real browser (Debian's Chromium via playwright-core) against a running tollgate with traffic:
// the numbers on the page match the admin API (the ledger), the feed updates live over SSE, and it takes screenshots.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.ts';
import { formatCount, formatUsdMicros } from '../../src/dashboard/static/format.js';
import { chatStatus, driveTraffic, startOperatorFixture, UI_TOKEN, type OperatorFixture } from './operator-fixture.ts';

// Screenshots land in docs/ only when asked (TOLLGATE_SCREENSHOTS=1), so a test run leaves the checkout clean.
const DOCS =
  process.env.TOLLGATE_SCREENSHOTS === '1' ? fileURLToPath(new URL('../../docs/', import.meta.url)) : `${mkdtempSync(join(tmpdir(), 'tollgate-shots-'))}/`;
const WAIT = { timeout: 15_000 };

interface RowNumbers {
  id: string;
  state: string;
  spend: number;
  spendText: string;
  requests: number;
  requestsText: string;
  unknown: number;
  totalCost: number;
  limits: { id: string; used: number; reserved: number; limit: number }[];
}

/** Read in the page as a string script: tsx's name-keeping helpers do not exist inside the browser. */
const READ_ROWS = `[...document.querySelectorAll('table.agents tbody tr')].map((row) => {
  const cell = (field) => row.querySelector('[data-field="' + field + '"]');
  return {
    id: row.dataset.agent,
    state: row.dataset.state,
    spend: Number(cell('spend').dataset.value),
    spendText: cell('spend').querySelector('.big').textContent,
    requests: Number(cell('requests').dataset.value),
    requestsText: cell('requests').textContent,
    unknown: Number(cell('unknown_cost').dataset.value),
    totalCost: Number(cell('total_cost').dataset.value),
    limits: [...row.querySelectorAll('.bar-row')].map((bar) => ({ id: bar.dataset.limit, used: Number(bar.dataset.used), reserved: Number(bar.dataset.reserved), limit: Number(bar.dataset.limitValue) })),
  };
})`;

async function rowNumbers(page: Page): Promise<RowNumbers[]> {
  return page.evaluate(READ_ROWS) as Promise<RowNumbers[]>;
}

describe('dashboard in headless Chromium', { timeout: 120_000 }, () => {
  let fixture: OperatorFixture;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    fixture = await startOperatorFixture();
    const { westinStatuses } = await driveTraffic(fixture);
    assert.deepEqual(westinStatuses, [200, 200, 429, 429], 'westin is blocked by its request limit after two calls');
    // No `skip` when the browser is missing: a CI without Chromium must fail here.
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1600, height: 1000 }, deviceScaleFactor: 1, colorScheme: 'light' });
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
  });

  after(async () => {
    await browser?.close();
    await fixture?.close();
  });

  it('signs in with ?token= and shows every agent with the ledger numbers', async () => {
    await page.goto(`${fixture.ui.url}/?token=${UI_TOKEN}`);
    assert.equal(new URL(page.url()).search, '', 'the token is gone from the address after sign-in');
    await page.waitForSelector('table.agents tbody tr[data-agent="westin"]', WAIT);
    const { agents } = await fixture.api('/api/agents');
    const rows = await rowNumbers(page);
    assert.deepEqual(
      rows.map((row) => row.id),
      agents.map((agent: any) => agent.id),
    );
    for (const agent of agents) {
      const row = rows.find((candidate) => candidate.id === agent.id)!;
      const window = agent.windows[agent.windows.length - 1];
      assert.equal(row.state, agent.state, `${agent.id} state`);
      assert.equal(row.spend, window.spend_micros, `${agent.id} spend`);
      assert.equal(row.spendText, formatUsdMicros(window.spend_micros), `${agent.id} spend as shown`);
      assert.equal(row.requests, window.requests, `${agent.id} requests`);
      assert.equal(row.requestsText, formatCount(window.requests));
      assert.equal(row.unknown, window.unknown_cost_requests, `${agent.id} unknown-cost requests`);
      assert.equal(row.totalCost, agent.totals.cost_micros, `${agent.id} recorded cost`);
      for (const bar of row.limits) {
        const limit = agent.limits.find((candidate: any) => candidate.id === bar.id);
        assert.ok(limit, `${bar.id} is one of ${agent.id}'s limits`);
        assert.deepEqual(bar, { id: limit.id, used: limit.used, reserved: limit.reserved, limit: limit.limit });
      }
    }
    const westin = agents.find((agent: any) => agent.id === 'westin');
    assert.equal(westin.state, 'exhausted');
    assert.equal(await page.textContent('tr[data-agent="westin"] .pill[data-state]'), 'exhausted');
    const allen = rows.find((row) => row.id === 'allen')!;
    assert.equal(allen.unknown, 2, 'the seeded and the live unknown-cost calls');
    const summary = await fixture.api('/api/summary');
    assert.equal(Number(await page.getAttribute('[data-field="spend_24h"]', 'data-value')), summary.last_24h.spend_micros);
    assert.equal(await page.textContent('[data-field="spend_24h"] .value'), formatUsdMicros(summary.last_24h.spend_micros));
    assert.equal(Number(await page.getAttribute('[data-field="total_cost"]', 'data-value')), summary.totals.cost_micros);
    const shared = await page.$$eval('[data-shared="desk-shared"] .bar-row', (bars) => bars.map((bar) => Number((bar as HTMLElement).dataset.used)));
    assert.deepEqual(
      shared,
      (await fixture.api('/api/shared')).shared[0].limits.map((limit: any) => limit.used),
    );
  });

  it('shows the interventions feed (blocks, downgrades) and updates it live over SSE', async () => {
    await page.waitForSelector('#live-status[data-state="live"]', WAIT);
    await page.waitForSelector('#feed-list li[data-kind="block"][data-agent="westin"]', WAIT);
    assert.ok(await page.$('#feed-list li[data-kind="downgrade"][data-agent="brightline"]'), 'brightline was downgraded past 50% of its budget');
    const blocksBefore = await page.$$eval('#feed-list li[data-kind="block"]', (items) => items.length);
    assert.equal(blocksBefore, 2);
    const requestsBefore = Number(await page.getAttribute('tr[data-agent="tiverton"] [data-field="requests"]', 'data-value'));

    assert.equal(await chatStatus(fixture.client('westin')), 429);
    assert.equal(await chatStatus(fixture.client('tiverton')), 200);
    await page.waitForFunction((count) => document.querySelectorAll('#feed-list li[data-kind="block"]').length === count, blocksBefore + 1, WAIT);
    await page.waitForFunction(
      (count) => Number(document.querySelector<HTMLElement>('tr[data-agent="tiverton"] [data-field="requests"]')?.dataset.value) === count,
      requestsBefore + 1,
      WAIT,
    );
    const tiverton = (await fixture.api('/api/agents')).agents.find((agent: any) => agent.id === 'tiverton');
    const window = tiverton.windows[tiverton.windows.length - 1];
    assert.equal(Number(await page.getAttribute('tr[data-agent="tiverton"] [data-field="spend"]', 'data-value')), window.spend_micros);
  });

  it('counts down to when headroom returns', async () => {
    const selector = 'tr[data-agent="westin"] .headroom .countdown';
    const first = await page.textContent(selector);
    assert.match(first ?? '', /^\d+m \d{2}s$/);
    await page.waitForFunction(([css, text]) => document.querySelector(css)?.textContent !== text, [selector, first] as const, WAIT);
    mkdirSync(DOCS, { recursive: true });
    await page.screenshot({ path: `${DOCS}dashboard.png`, fullPage: true });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.screenshot({ path: `${DOCS}dashboard-dark.png`, fullPage: true });
    await page.emulateMedia({ colorScheme: 'light' });
  });

  it('takes the token from #token= or asks for it once, keeps it in sessionStorage and sends it as a bearer header', async () => {
    await page.goto(`${fixture.ui.url}/#token=${UI_TOKEN}`);
    await page.waitForSelector('table.agents tbody tr', WAIT);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('tollgate.uiToken')), UI_TOKEN);
    assert.equal(new URL(page.url()).hash, '#/', 'the token is gone from the address');

    // A stale token in the session: the API refuses it (a bearer header wins over the cookie), the page asks once.
    await page.evaluate(() => {
      sessionStorage.setItem('tollgate.uiToken', 'stale-token');
      sessionStorage.removeItem('tollgate.uiTokenAsked');
    });
    const prompts: string[] = [];
    const answer = (dialog: import('playwright-core').Dialog) => {
      prompts.push(dialog.type());
      void dialog.accept(UI_TOKEN);
    };
    page.on('dialog', answer);
    const bearers: string[] = [];
    const watch = (request: import('playwright-core').Request) => {
      const header = request.headers().authorization;
      if (request.url().includes('/api/') && header) bearers.push(header);
    };
    page.on('request', watch);
    await page.reload();
    await page.waitForSelector('table.agents tbody tr', WAIT);
    await page.waitForFunction((token) => sessionStorage.getItem('tollgate.uiToken') === token, UI_TOKEN, WAIT);
    page.off('dialog', answer);
    page.off('request', watch);
    assert.deepEqual(prompts, ['prompt'], 'asked once');
    // The refused calls log "401 (Unauthorized)" in the console: expected here, not a script error.
    for (let index = pageErrors.length - 1; index >= 0; index--) if (/401 \(Unauthorized\)/.test(pageErrors[index])) pageErrors.splice(index, 1);
    assert.ok(bearers.includes('Bearer stale-token') && bearers.includes(`Bearer ${UI_TOKEN}`), 'the held token goes out as a bearer header');
  });

  it("shows an agent's page: spend chart over the window from its history, limits, recent calls", async () => {
    await page.click('tr[data-agent="tiverton"] a.agent-link');
    await page.waitForSelector('.agent-page[data-agent="tiverton"] svg.chart', WAIT);
    const detail = await fixture.api('/api/agents/tiverton');
    const since = new Date(Date.now() - 3_600_000 + 30_000).toISOString();
    const history = await fixture.api(`/api/agents/tiverton/history?after=${encodeURIComponent(since)}&limit=1000`);
    const chart = await page.$eval('svg.chart', (svg) => ({ total: Number(svg.getAttribute('data-total')), calls: Number(svg.getAttribute('data-calls')) }));
    const historyTotal = history.entries.reduce((sum: number, entry: any) => sum + (entry.cost_micros ?? 0), 0);
    assert.equal(chart.calls, history.entries.length, 'one point per call in the window');
    assert.equal(chart.total, historyTotal, 'the chart sums the history');
    const window = detail.agent.windows.find((candidate: any) => candidate.window === '1h');
    assert.equal(chart.total, window.spend_micros, 'history and ledger agree on the window spend');
    assert.equal(await page.textContent('[data-field="chart_total"]'), formatUsdMicros(window.spend_micros));
    assert.equal(await page.$$eval('table.calls tbody tr', (rows) => rows.length), detail.recent.calls.length);
    const limits = await page.$$eval('#limits .bar-row', (bars) => bars.map((bar) => (bar as HTMLElement).dataset.limit));
    assert.deepEqual(
      limits,
      detail.agent.limits.map((limit: any) => limit.id),
    );
    assert.ok(await page.$('.policy td:text("limit_usd")'), 'the policy table names the fields in force');
    await page.screenshot({ path: `${DOCS}dashboard-agent.png`, fullPage: true });
    assert.deepEqual(pageErrors, [], 'no script errors on the page');
  });
});
