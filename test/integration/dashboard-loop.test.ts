// The agent page in Chromium: the loop card (repeated fingerprint, count, first and last time) and the limit's forecast text.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import OpenAI from 'openai';
import { launchBrowser, watchedPage, WAIT } from '../helpers/browser.ts';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { toolLoop } from '../helpers/loop-calls.ts';
import { forecastText } from '../../src/dashboard/static/format.js';

const TOKEN = 'ui-token-dashboard-loop-4321';

describe('the agent page shows the loop and the forecast', { timeout: 120_000 }, () => {
  let h: Harness;
  let browser: Browser;

  before(async () => {
    // $0.02 a day, each call ~$0.001: a forecast in hours; alerted from the 3rd identical tool call, never refused
    h = await startHarness({
      agents: { loopy: { budget: { limit_usd: 0.02, window: '24h', loop: { same_tool_call: 3 } } } },
      env: { TOLLGATE_UI_TOKEN: TOKEN },
    });
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('loopy'), maxRetries: 0 });
    for (let i = 0; i < 5; i++) await toolLoop(client, i, { name: 'deploy', args: '{"env":"staging"}' });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await h?.close();
  });

  it('the loop card names the detector, the repeated fingerprint, its count and its first and last time; the bar says when the limit runs out', async () => {
    const detail = (await (await fetch(`${h.tollgate.uiUrl}/api/agents/loopy`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as {
      loop: { fingerprint: string; count: number; first_at: string; last_at: string; level: string; detector: string };
      agent: { limits: { id: string; forecast?: { exhausted_in_ms: number | null } }[] };
    };
    assert.deepEqual([detail.loop.detector, detail.loop.count, detail.loop.level], ['same_tool_call', 5, 'alert']);
    const { page, errors } = await watchedPage(browser);
    await page.goto(`${h.tollgate.uiUrl}/?token=${TOKEN}`);
    await page.goto(`${h.tollgate.uiUrl}/#/agents/loopy`);
    await page.waitForSelector('#loop [data-field="loop_count"]', WAIT);
    assert.equal(await page.textContent('#loop [data-field="loop_count"]'), '5');
    assert.equal(await page.textContent('#loop [data-field="loop_fingerprint"]'), detail.loop.fingerprint);
    assert.match(detail.loop.fingerprint, /^[\w-]{16}$/, 'a hash, never the tool call');
    const card = (await page.textContent('#loop')) ?? '';
    assert.ok(card.includes('the same tool call') && card.includes(`first ${detail.loop.first_at}`) && card.includes(`last ${detail.loop.last_at}`), card);
    assert.ok(!card.includes('deploy') && !card.includes('staging'), 'no prompt text on the page');
    const usd = detail.agent.limits.find((limit) => limit.id.includes('/usd/'));
    const expected = forecastText(usd);
    assert.match(expected ?? '', /^at this rate: empty in \d+h \d{2}m$/, 'the 5 calls of the last minutes empty $0.02 in hours');
    await page.waitForSelector('#limits [data-field="forecast"]', WAIT);
    assert.equal(await page.textContent('#limits [data-field="forecast"]'), expected);
    assert.deepEqual(errors, [], 'no script errors on the page');
  });
});
