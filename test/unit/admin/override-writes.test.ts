// Override writes racing: the store's temporary files never collide, and the admin layer runs one change per agent at a time.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyedQueue } from '../../../src/admin/keyed-queue.ts';
import { PolicyStore } from '../../../src/budget/policy/store.ts';
import { seededRandom } from '../../helpers/random.ts';

let dir: string;
let store: PolicyStore | null = null;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tollgate-gov-race-'));
});
afterEach(async () => {
  await store?.close();
  store = null;
  await rm(dir, { recursive: true, force: true });
});

describe('PolicyStore.writeOverride under concurrent writes', () => {
  it('leaves one of the written policies on disk, whole, and no temporary file', async () => {
    store = new PolicyStore({ governanceDir: dir });
    await store.start();
    const random = seededRandom(4242);
    for (let round = 0; round < 30; round++) {
      // same-millisecond writes of different lengths: a shared temporary name would mix their bytes or lose a rename
      const policies = Array.from({ length: 2 + Math.floor(random() * 5) }, (_, index) => ({
        limit_usd: index + 1,
        window: '1h',
        reason: `round ${round} writer ${index} ${'r'.repeat(Math.floor(random() * 2000))}`,
      }));
      const results = await Promise.allSettled(policies.map((policy) => store!.writeOverride('a', policy)));
      assert.deepEqual(
        results.filter((result) => result.status === 'rejected'),
        [],
        `seed 4242 round ${round}`,
      );
      const onDisk = JSON.parse(await readFile(join(dir, 'a', 'budget.json'), 'utf8'));
      assert.ok(
        policies.some((policy) => JSON.stringify(policy) === JSON.stringify(onDisk)),
        `round ${round}: one of the written policies`,
      );
      assert.deepEqual(await readdir(join(dir, 'a')), ['budget.json'], 'no temporary file left behind');
    }
  });
});

describe('KeyedQueue', () => {
  it('runs tasks of one key one at a time in order, other keys alongside, and goes on after a failure', async () => {
    const queue = new KeyedQueue();
    const log: string[] = [];
    const task =
      (name: string, fail = false) =>
      async () => {
        log.push(`start ${name}`);
        await new Promise((resolve) => setImmediate(resolve));
        log.push(`end ${name}`);
        if (fail) throw new Error(name);
        return name;
      };
    const results = await Promise.allSettled([
      queue.run('a', task('a1')),
      queue.run('a', task('a2', true)),
      queue.run('b', task('b1')),
      queue.run('a', task('a3')),
    ]);
    assert.deepEqual(
      results.map((result) => (result.status === 'fulfilled' ? result.value : (result.reason as Error).message)),
      ['a1', 'a2', 'b1', 'a3'],
    );
    const a = log.filter((line) => line.endsWith('a1') || line.endsWith('a2') || line.endsWith('a3'));
    assert.deepEqual(a, ['start a1', 'end a1', 'start a2', 'end a2', 'start a3', 'end a3']);
    assert.ok(log.indexOf('start b1') < log.indexOf('end a1'), 'another key does not wait');
    assert.equal(queue.size, 0, 'nothing kept once idle');
  });
});
