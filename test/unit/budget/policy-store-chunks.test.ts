// A rescan of many governance directories holds the event loop in short chunks: stats and watches a few dozen per turn.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyStore } from '../../../src/budget/policy/store.ts';
import { limitedWatch } from '../../helpers/watch-limit.ts';
import { makeAgent } from './helpers.ts';

test('starting on 400 agent directories adds their watches at most 64 per turn of the event loop, and loads every file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-gov-chunks-'));
  try {
    for (let index = 0; index < 400; index++) {
      await mkdir(join(dir, `agent-${index}`));
      await writeFile(join(dir, `agent-${index}`, 'budget.json'), JSON.stringify({ limit_usd: 1, window: '1h' }));
    }
    let turn = 0;
    let counting = true;
    const tick = () => {
      turn += 1;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    const real = limitedWatch(100_000);
    const watchesPerTurn = new Map<number, number>();
    const watch: typeof real = Object.assign(
      (path: string, options: { persistent: boolean }, listener: (event: string, name: string | Buffer | null) => void) => {
        watchesPerTurn.set(turn, (watchesPerTurn.get(turn) ?? 0) + 1);
        return real(path, options, listener);
      },
      { attempts: 0, open: 0 },
    );
    const store = new PolicyStore({ governanceDir: dir, watch, pollMs: 60_000 });
    await store.start();
    counting = false;
    try {
      assert.equal(store.watchedDirs, 400 + 1, 'the governance directory and every agent directory');
      const most = Math.max(...watchesPerTurn.values());
      assert.ok(most <= 64 + 2, `at most ${most} watches added in one turn of the event loop`);
      const policy = store.effective(makeAgent({ id: 'agent-399' }), Date.now());
      assert.equal(policy.kind, 'policy');
    } finally {
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
