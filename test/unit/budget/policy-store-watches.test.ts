// The policy store watches a bounded number of directories (never Node's recursive mode) and falls back to rescans when watches run out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyStore } from '../../../src/budget/policy/store.ts';
import type { PolicyResult } from '../../../src/budget/policy/policy.ts';
import { limitedWatch } from '../../helpers/watch-limit.ts';
import { waitFor } from '../../helpers/wait.ts';
import { makeAgent } from './helpers.ts';

async function withGovernance(count: number, run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-gov-watches-'));
  try {
    for (let index = 0; index < count; index++) await writePolicy(dir, `agent-${index}`, 1);
    await mkdir(join(dir, '_shared'));
    await writeFile(join(dir, '_shared', 'team.json'), JSON.stringify({ max_requests: 10, window: '1d' }));
    await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function writePolicy(dir: string, id: string, usd: number): Promise<void> {
  await mkdir(join(dir, id), { recursive: true });
  await writeFile(join(dir, id, 'budget.json'), JSON.stringify({ limit_usd: usd, window: '1h' }));
}

function usdLimit(result: PolicyResult): number | undefined {
  return result.kind === 'policy' ? result.limits.find((spec) => spec.metric === 'usd_micros')?.limit : undefined;
}

test('at most maxWatches directories are watched, one watch each (no per-file watches); the rest change through the rescan', () =>
  withGovernance(200, async (dir) => {
    const watch = limitedWatch(100_000);
    const store = new PolicyStore({ governanceDir: dir, maxWatches: 30, watch, pollMs: 50 });
    await store.start();
    try {
      assert.equal(store.watchedDirs, 30);
      assert.equal(watch.open, 30, 'the root, _shared and 28 agent directories: no watch per file');
      assert.equal(usdLimit(store.effective(makeAgent({ id: 'agent-150' }), Date.now())), 1_000_000);
      await writePolicy(dir, 'agent-150', 3);
      await writePolicy(dir, 'agent-7', 3);
      await waitFor(() => [150, 7].every((index) => usdLimit(store.effective(makeAgent({ id: `agent-${index}` }), Date.now())) === 3_000_000), 'changes seen');
      for (let index = 0; index < 5; index++) await store.reload();
      assert.equal(watch.attempts, 30, 'rescans try no watch while full');
      await rm(join(dir, 'agent-0'), { recursive: true });
      await store.reload();
      assert.ok(store.watchedDirs <= 30);
    } finally {
      await store.close();
    }
    assert.equal(watch.open, 0, 'stop closes every watch');
  }));

test('no inotify watches left (ENOSPC): policies load, one warning, rescans do not retry, changes still seen', () =>
  withGovernance(200, async (dir) => {
    const watch = limitedWatch(5);
    const warnings: string[] = [];
    const store = new PolicyStore({ governanceDir: dir, watch, pollMs: 50, onWarning: (message) => warnings.push(message) });
    await store.start();
    try {
      assert.equal(store.watchedDirs, 5);
      assert.equal(watch.attempts, 6);
      for (let index = 0; index < 10; index++) await store.reload();
      assert.equal(watch.attempts, 6, 'ten rescans tried no watch');
      assert.equal(warnings.filter((w) => w.includes('ENOSPC')).length, 1, warnings.join('\n'));
      await writePolicy(dir, 'agent-199', 4);
      await writePolicy(dir, 'newcomer', 2);
      await waitFor(
        () =>
          usdLimit(store.effective(makeAgent({ id: 'agent-199' }), Date.now())) === 4_000_000 &&
          usdLimit(store.effective(makeAgent({ id: 'newcomer' }), Date.now())) === 2_000_000,
        'rescan picks changes up',
      );
    } finally {
      await store.close();
    }
  }));
