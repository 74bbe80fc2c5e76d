// Re-seeding the Redis ledger from replicas' history files after a Redis loss: counted once, live entries not twice.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scanHistory } from '../../../src/history/reader.ts';
import type { HistoryUsageEntry } from '../../../src/ledger/rebuild.ts';
import type { LimitCheck } from '../../../src/ledger/ledger.ts';
import { reseedRedisLedger } from '../../../src/ledger/redis/reseed.ts';
import { dropPrefix, makeTestLedger, requireRedis } from './redis-test-support.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function line(agent: string, at: number, costMicros: number): string {
  return JSON.stringify({
    version: 1,
    ts: new Date(at).toISOString(),
    claw_id: agent,
    path: '/v1/chat/completions',
    requested_model: 'openai/gpt-4o',
    effective_provider: 'openai',
    effective_model: 'gpt-4o',
    status_code: 200,
    stream: false,
    response: { format: 'json', json: {} },
    usage: { prompt_tokens: 10, completion_tokens: 5, cost_micros: costMicros },
  });
}

async function writeHistory(dir: string, agent: string, lines: string[]): Promise<void> {
  await mkdir(join(dir, agent), { recursive: true });
  await writeFile(join(dir, agent, 'history.jsonl'), lines.join('\n') + '\n');
}

async function* scanAll(dirs: string[]): AsyncGenerator<HistoryUsageEntry> {
  for (const dir of dirs) yield* scanHistory({ dir });
}

const scopesFor = (entry: HistoryUsageEntry) => [`agent:${entry.claw_id}`, 'shared:team'];

function usd(scope: string, windowMs = DAY): LimitCheck {
  return { id: `${scope}/usd`, scope, metric: 'usd_micros', windowMs, limit: 1_000_000 };
}

before(() => requireRedis());

describe('redis ledger re-seed from history', () => {
  it('counts every replica history once, skips entries recorded live, and runs once per ledger life', async () => {
    const root = await mkdtemp(join(tmpdir(), 'tollgate-reseed-'));
    const { ledger, prefix, cleanup } = await makeTestLedger('reseed');
    try {
      const { bornAt } = await ledger.lifeInfo();
      const replicaA = join(root, 'a');
      const replicaB = join(root, 'b');
      await writeHistory(replicaA, 'alice', [line('alice', bornAt - 2 * HOUR, 100), line('alice', bornAt - 40 * DAY, 5000)]);
      await writeHistory(replicaB, 'alice', [line('alice', bornAt - HOUR, 20)]);
      await writeHistory(replicaB, 'bob', [line('bob', bornAt - 30 * 60_000, 3), line('bob', bornAt + 1000, 7)]);
      // bob's request after the ledger life began was recorded live by its replica.
      await ledger.record({ scopes: ['agent:bob', 'shared:team'], amounts: { usd_micros: 7, requests: 1 }, at: bornAt + 1000 });

      const result = await reseedRedisLedger({ ledger, scan: scanAll([replicaA, replicaB]), scopesFor, retentionMs: 35 * DAY, marker: 'test run' });
      assert.ok(result.done);
      assert.equal(result.records, 3);
      assert.equal(result.live, 1);
      assert.equal(result.expired, 1);
      assert.equal(result.skipped, 0);
      const [alice, bob, team] = await ledger.standing([usd('agent:alice'), usd('agent:bob'), usd('shared:team')]);
      assert.equal(alice.used, 120);
      assert.equal(bob.used, 10);
      assert.equal(team.used, 130);
      const [tokens] = await ledger.standing([{ id: 't', scope: 'agent:alice', metric: 'total_tokens', windowMs: DAY, limit: 1000 }]);
      assert.equal(tokens.used, 30);

      const again = await reseedRedisLedger({ ledger, scan: scanAll([replicaA, replicaB]), scopesFor, retentionMs: 35 * DAY, marker: 'second run' });
      assert.equal(again.done, false);
      assert.match(again.done ? '' : again.reason, /test run/);
      assert.equal((await ledger.standing([usd('shared:team')]))[0].used, 130, 'a second run adds nothing');

      // Redis loses everything: a new life begins, and the history (now older than it) is counted again, once.
      await dropPrefix(prefix);
      const life = await ledger.lifeInfo();
      assert.ok(life.bornAt >= bornAt);
      assert.equal(life.reseeded, null);
      const rebuilt = await reseedRedisLedger({ ledger, scan: scanAll([replicaA, replicaB]), scopesFor, retentionMs: 35 * DAY, marker: 'after loss' });
      assert.ok(rebuilt.done);
      assert.equal(rebuilt.records + rebuilt.live, 4);
      assert.equal((await ledger.standing([usd('shared:team')]))[0].used, 123 + (rebuilt.live === 0 ? 7 : 0));
    } finally {
      await cleanup();
      await rm(root, { recursive: true, force: true });
    }
  });

  it('re-seeds thousands of entries in batches', async () => {
    const root = await mkdtemp(join(tmpdir(), 'tollgate-reseed-'));
    const { ledger, cleanup } = await makeTestLedger('reseed-batch');
    try {
      const { bornAt } = await ledger.lifeInfo();
      const lines = Array.from({ length: 5000 }, (_, index) => line('carol', bornAt - 1000 - index * 600, 2));
      await writeHistory(root, 'carol', lines);
      const result = await reseedRedisLedger({ ledger, scan: scanHistory({ dir: root }), scopesFor, retentionMs: 35 * DAY, marker: 'batch' });
      assert.ok(result.done);
      assert.equal(result.records, 5000);
      const [carol] = await ledger.standing([usd('agent:carol')]);
      assert.equal(carol.used, 10_000);
    } finally {
      await cleanup();
      await rm(root, { recursive: true, force: true });
    }
  });
});
