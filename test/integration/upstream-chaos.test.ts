// A misbehaving upstream and clients that give up, on both ledgers: every answer relayed or coded, every reservation ended once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { ledgerChoice } from '../helpers/ledger-choice.ts';
import { seededRandom } from '../helpers/random.ts';
import type { Behavior } from '../helpers/fake-upstream.ts';
import { waitFor } from '../helpers/wait.ts';

const BEHAVIORS: readonly Behavior[] = [
  {},
  { usage: null },
  { usage: { input: 7, output: 3, cost: 0.25 } },
  { status: 500 },
  // the key pool cools the key for what the upstream asks (docs/providers.md): 1 ms, so the next calls get it back
  { status: 429, headers: { 'retry-after-ms': '1' } },
  { status: 400, errorBody: { error: { message: 'bad', type: 'invalid_request_error' }, usage: { prompt_tokens: 5, completion_tokens: 0 } } },
  { reset: true },
  { cutAfterChunks: 2 },
  { stallAfterChunks: 1 },
  { stall: true },
  { gzip: true },
  { redirectTo: 'https://elsewhere.example/v1' },
  { unendedEventChars: 20_000 },
  { delayMs: 30 },
  { chunks: 0 },
];

for (const ledger of ['memory', 'redis'] as const)
  describe(`a misbehaving upstream (${ledger} ledger)`, () => {
    let h: Harness;
    const chosen = ledgerChoice(ledger, 'chaos');
    before(async () => {
      await chosen.ready();
      h = await startHarness({
        // max_concurrent 1: a reservation left open by any outcome would refuse every later call of the agent
        agents: { governed: { budget: { limit_usd: 1000, window: '1h', max_concurrent: 1 } }, quitter: { budget: { limit_usd: 1000, window: '1h' } } },
        env: {
          TOLLGATE_MAX_RESPONSE_BYTES: '4096',
          CLLAMA_STREAM_IDLE_TIMEOUT_MS: '150',
          CLLAMA_STREAM_FIRST_BYTE_TIMEOUT_MS: '300',
          CLLAMA_DISPATCH_CANDIDATE_TIMEOUT_MS: '400',
          // closed: a ledger that cannot answer shows up as 503s (which fail the test), never as calls admitted unheld
          CLLAMA_BUDGET_FAIL_MODE: 'closed',
          ...chosen.env,
        },
      });
    });
    after(async () => {
      await h.close();
      await chosen.drop();
    });

    it('gets each call relayed or refused with a code, ends every reservation once, and charges exactly what history records', async () => {
      const random = seededRandom(42);
      const outcomes = new Map<string, number>();
      for (let call = 0; call < 150; call++) {
        const anthropic = random() < 0.4;
        const stream = random() < 0.5;
        const behavior = BEHAVIORS[Math.floor(random() * BEHAVIORS.length)];
        const body = anthropic
          ? { model: 'claude-sonnet-4-5', max_tokens: 50, stream, messages: [{ role: 'user', content: `call ${call}` }] }
          : { model: 'openai/gpt-4o', max_tokens: 50, stream, messages: [{ role: 'user', content: `call ${call}` }] };
        const what = `call ${call}: ${anthropic ? 'anthropic' : 'openai'} ${stream ? 'stream' : 'json'} ${JSON.stringify(behavior)}`;
        const response = await fetch(`${h.url}${anthropic ? '/v1/messages' : '/v1/chat/completions'}`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${h.token('governed')}`,
            'content-type': 'application/json',
            'anthropic-version': '2023-06-01',
            'x-fake-behavior': JSON.stringify(behavior),
          },
          body: JSON.stringify(body),
          redirect: 'manual',
        });
        const text = await response.text().catch((error: Error) => `(body failed: ${error.message})`);
        if (response.status !== 200 && response.status !== behavior.status) {
          // 503: the only key was cooling (the 429 behaviour's own call, or one sent within its 1 ms)
          assert.ok([502, 503, 504].includes(response.status), `${what}: status ${response.status} ${text}`);
          const error = JSON.parse(text) as { error: { code?: string } };
          assert.ok(error.error.code, `${what}: a coded error`);
        }
        assert.ok(!/budget_exceeded|rate_limited/.test(text), `${what}: refused by its budget, so an earlier reservation was left open: ${text}`);
        const key = `${response.status}`;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      }
      assert.ok(outcomes.size >= 4, `several outcomes exercised: ${JSON.stringify([...outcomes])}`);

      await assertChargedOnce(h, 'governed');
    });

    it('ends every reservation once when clients give up at random moments (sending, waiting, reading a stream)', async () => {
      const random = seededRandom(7);
      const slow: readonly Behavior[] = [{ delayMs: 40 }, { chunkGapMs: 15, chunks: 6 }, {}, { stallAfterChunks: 2 }, { delayMs: 10, usage: null }];
      const calls: Promise<void>[] = [];
      for (let call = 0; call < 120; call++) {
        const stream = random() < 0.5;
        const behavior = slow[Math.floor(random() * slow.length)];
        const body = JSON.stringify({ model: 'openai/gpt-4o', max_tokens: 50, stream, messages: [{ role: 'user', content: `gives up ${call}` }] });
        calls.push(callAndGiveUp({ h, body, behavior, afterMs: Math.floor(random() * 80), midBody: random() < 0.15 }));
        if (call % 4 === 3) await Promise.all(calls.splice(0)); // four at a time
      }
      await Promise.all(calls);
      // one of each outcome whatever the machine's speed (random give-up times can all fall before or after the answer)
      await callAndGiveUp({
        h,
        body: JSON.stringify({ model: 'openai/gpt-4o', max_tokens: 50, messages: [{ role: 'user', content: 'waits for its answer' }] }),
        behavior: {},
        afterMs: Infinity,
        midBody: false,
      });
      await callAndGiveUp({
        h,
        body: JSON.stringify({ model: 'openai/gpt-4o', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'leaves after the first bytes' }] }),
        behavior: { stallAfterChunks: 2 },
        afterMs: 0,
        midBody: false,
        afterFirstBytes: true,
      });
      await assertChargedOnce(h, 'quitter');
      const outcomes = new Set(h.historyLines('quitter').map((entry) => String(entry.outcome ?? 'complete')));
      assert.ok(outcomes.has('client_aborted') && outcomes.has('complete'), `calls cut while the upstream worked, and whole ones: ${[...outcomes]}`);
    });
  });

/**
 * Sends a call as a raw HTTP request and destroys it after `afterMs` (or half-way through sending its body, or once
 * the first bytes of the answer arrived); `afterMs: Infinity` waits for the whole answer.
 */
function callAndGiveUp(input: { h: Harness; body: string; behavior: Behavior; afterMs: number; midBody: boolean; afterFirstBytes?: boolean }): Promise<void> {
  return new Promise((resolve) => {
    const target = new URL(`${input.h.url}/v1/chat/completions`);
    const req = request({
      host: target.hostname,
      port: target.port,
      path: target.pathname,
      method: 'POST',
      headers: {
        authorization: `Bearer ${input.h.token('quitter')}`,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(input.body),
        'x-fake-behavior': JSON.stringify(input.behavior),
      },
    });
    req.on('error', () => resolve());
    req.on('close', () => resolve());
    req.on('response', (res) => {
      res.on('data', () => {
        if (input.afterFirstBytes) req.destroy();
      });
      res.on('error', () => resolve());
      res.on('end', () => resolve());
    });
    if (input.midBody) {
      req.write(input.body.slice(0, 20));
      setTimeout(() => req.destroy(), input.afterMs);
      return;
    }
    req.end(input.body);
    if (!input.afterFirstBytes && Number.isFinite(input.afterMs)) setTimeout(() => req.destroy(), input.afterMs);
  });
}

/** Nothing held for the agent once its calls have ended, and its ledger spend is the sum of its history's costs. */
async function assertChargedOnce(h: Harness, agentId: string): Promise<void> {
  const hour = { id: 'hour', scope: `agent:${agentId}`, metric: 'usd_micros', windowMs: 3_600_000, limit: 1e12 } as const;
  for (let waited = 0; (await h.tollgate.ledger.standing([hour]))[0].reserved !== 0; waited += 10) {
    assert.ok(waited < 15_000, 'every reservation ends once its call has'); // a guard against hanging, not a timing
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await waitFor(() => h.tollgate.deps.history.pendingEntries === 0);
  const [standing] = await h.tollgate.ledger.standing([hour]);
  const historyMicros = h.historyLines(agentId).reduce((sum, entry) => sum + ((entry.usage as { cost_micros?: number }).cost_micros ?? 0), 0);
  assert.ok(historyMicros > 0);
  assert.equal(standing.used, historyMicros, 'the ledger charged exactly what history records: nothing lost, nothing twice');
}
