// Failover held to the budget on 3 replicas sharing Redis: a failing primary, an expensive fallback, one shared limit.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startHarness, type Harness, type HarnessOptions } from '../helpers/harness.ts';
import { ledgerChoice } from '../helpers/ledger-choice.ts';
import { waitFor } from '../helpers/wait.ts';

describe('failover under one budget, 3 replicas on Redis', () => {
  const ledger = ledgerChoice('redis', 'failover-replicas');
  const replicas: Harness[] = [];
  // gpt-4o at 1,000 output tokens: $0.010025 a call; the limit holds 4 of them, never 5
  const limitUsd = 0.05;
  const options = (i: number): HarnessOptions => ({
    agents: {
      a: {
        modelPolicy: {
          allowed: [
            { slot: 'primary', ref: 'openai/gpt-4o-mini' },
            { slot: 'fallback', ref: 'openai/gpt-4o' },
          ],
        },
        budget: { limit_usd: limitUsd, window: '1h' },
      },
    },
    upstream: { delayMs: 20, models: { 'gpt-4o-mini': { status: 500 } } },
    env: { ...ledger.env, CLLAMA_BUDGET_FAIL_MODE: 'closed', ...(i > 0 ? { CLAW_SESSION_HISTORY_DIR: join(replicas[0].root, `history-${i}`) } : {}) },
  });

  before(async () => {
    await ledger.ready();
    replicas.push(await startHarness(options(0)));
    for (let i = 1; i < 3; i++) replicas.push(await startHarness(options(i), { root: replicas[0].root, fake: replicas[0].fake }));
  });
  after(async () => {
    for (const replica of replicas.slice(1).reverse()) await replica.tollgate.close();
    await replicas[0]?.close();
    await ledger.drop();
  });

  it('30 calls at once: every fallback admitted against the shared limit first; spend never passes it', async () => {
    const clients = replicas.map((replica) => new OpenAI({ baseURL: `${replica.url}/v1`, apiKey: replica.token('a'), maxRetries: 0 }));
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) =>
        clients[i % 3].chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1000 }),
      ),
    );
    const answered = results.filter((result) => result.status === 'fulfilled');
    const refused = results.filter((result) => result.status === 'rejected' && (result.reason as { status?: number }).status === 429);
    assert.equal(
      answered.length + refused.length,
      30,
      JSON.stringify(
        results
          .filter((result) => result.status === 'rejected')
          .map((result) => String((result as PromiseRejectedResult).reason))
          .slice(0, 3),
      ),
    );
    for (const result of answered) assert.equal((result as PromiseFulfilledResult<{ model: string }>).value.model, 'gpt-4o');
    const fallbacks = replicas[0].fake.requests.filter((request) => request.body.model === 'gpt-4o').length;
    assert.equal(fallbacks, answered.length, 'every fallback sent was answered: none was sent past the limit');
    assert.ok(answered.length >= 1 && answered.length <= 4, `between 1 and 4 fit, got ${answered.length}`);
    const lines = [0, 1, 2].flatMap((i) => {
      const file = join(replicas[0].root, i === 0 ? 'history' : `history-${i}`, 'a', 'history.jsonl');
      return existsSync(file)
        ? readFileSync(file, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((line) => JSON.parse(line) as Record<string, unknown>)
        : [];
    });
    assert.equal(lines.length, answered.length, 'one history line per answered call: the 500s consumed nothing');
    const charged = lines.reduce((sum, entry) => sum + ((entry.usage as { cost_micros?: number }).cost_micros ?? 0), 0);
    assert.ok(charged <= limitUsd * 1e6, `charged ${charged} µ$ of ${limitUsd * 1e6}`);
    // the primary's circuit, opened by failures counted on all three, is seen open by every replica
    await waitFor(
      () => replicas.every((replica) => replica.tollgate.deps.circuits.open().some((circuit) => circuit.model === 'gpt-4o-mini')),
      'every replica sees the circuit open',
    );
  });
});
