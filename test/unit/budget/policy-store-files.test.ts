// PolicyStore against hostile governance files: oversized, a FIFO, a device, symlinks; each reported by name, the rest still loading.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyStore } from '../../../src/budget/policy/store.ts';
import type { EffectivePolicy, PolicyResult } from '../../../src/budget/policy/policy.ts';
import { MAX_JSON_FILE_BYTES } from '../../../src/config/json-file.ts';
import { makeAgent } from './helpers.ts';

let dir: string;
let store: PolicyStore | null = null;
let errors: string[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tollgate-gov-files-'));
  errors = [];
});
afterEach(async () => {
  await store?.close();
  store = null;
  await rm(dir, { recursive: true, force: true });
});

async function put(relative: string, content: unknown): Promise<string> {
  const file = join(dir, relative);
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

async function link(relative: string, target: string): Promise<string> {
  const file = join(dir, relative);
  await mkdir(join(file, '..'), { recursive: true });
  await rm(file, { force: true });
  await symlink(target, file);
  return file;
}

async function loadedStore(): Promise<PolicyStore> {
  store = new PolicyStore({ governanceDir: dir, onError: (file, message) => errors.push(`${file}: ${message}`) });
  await store.reload();
  return store;
}

function limits(result: PolicyResult): [string, number][] {
  assert.equal(result.kind, 'policy', result.kind === 'unavailable' ? result.problems.join('\n') : '');
  return (result as EffectivePolicy).limits.map((spec) => [spec.id, spec.limit]);
}

function reason(result: PolicyResult): string {
  assert.equal(result.kind, 'unavailable');
  return (result as { reason: string }).reason;
}

/** Valid JSON, a little over the limit. */
const OVERSIZED = JSON.stringify({ limit_usd: 9, window: '1h', reason: 'x'.repeat(MAX_JSON_FILE_BYTES) });
const NOW = Date.parse('2026-03-01T00:00:00Z');

describe('PolicyStore with files it must not read', { timeout: 20_000 }, () => {
  it('reports an oversized budget.json (> 1 MiB) unread; never good, the agent check is unavailable; the other files load', async () => {
    const big = await put('a/budget.json', OVERSIZED);
    await put('b/budget.json', { limit_usd: 2, window: '1h', shared: ['team'] });
    await put('_shared/team.json', { max_requests: 10, window: '1m' });
    const policies = await loadedStore();
    const size = (await stat(big)).size;
    assert.deepEqual(errors, [`${big}: too large (${size} bytes; at most ${MAX_JSON_FILE_BYTES} are read)`]);
    assert.equal(reason(policies.effective(makeAgent({ id: 'a', budget: { limit_usd: 1, window: '1h' } }), NOW)), errors[0]);
    assert.deepEqual(limits(policies.effective(makeAgent({ id: 'b' }), NOW)), [
      ['agent:b/usd/1h', 2_000_000],
      ['shared:team/requests/1m', 10],
    ]);
  });

  it('keeps the last good version of a budget.json that grows past 1 MiB', async () => {
    const file = await put('a/budget.json', { limit_usd: 1, window: '1h' });
    const policies = await loadedStore();
    await writeFile(file, OVERSIZED);
    await policies.reload();
    assert.deepEqual(limits(policies.effective(makeAgent(), NOW)), [['agent:a/usd/1h', 1_000_000]], 'the $1 limit, not the $9 of the unread file');
    assert.equal(errors.length, 1);
    assert.match(
      errors[0],
      /^\S+\/a\/budget\.json: too large \(\d+ bytes; at most 1048576 are read\); its previous version stays in force until the file parses again$/,
    );
  });

  it('reports a FIFO named like a shared budget file, without blocking, once; the agents naming it are unavailable, the rest load', async () => {
    const fifo = join(dir, '_shared', 'team.json');
    await put('_shared/other.json', { limit_usd: 50, window: '1d' });
    execFileSync('mkfifo', [fifo]);
    await put('b/budget.json', { limit_usd: 2, window: '1h' });
    const policies = await loadedStore();
    assert.deepEqual(errors, [`${fifo}: not a regular file`]);
    assert.equal(reason(policies.effective(makeAgent({ budget: { shared: ['team'] } }), NOW)), `${fifo}: not a regular file`);
    assert.deepEqual(limits(policies.effective(makeAgent({ budget: { shared: ['other'] } }), NOW)), [['shared:other/usd/1d', 50_000_000]]);
    assert.deepEqual(limits(policies.effective(makeAgent({ id: 'b' }), NOW)), [['agent:b/usd/1h', 2_000_000]]);
    assert.deepEqual(
      policies.listShared().map((shared) => [shared.name, shared.problems]),
      [
        ['other', []],
        ['team', ['not a regular file']],
      ],
    );
    await policies.reload();
    assert.equal(errors.length, 1, 'an unchanged FIFO is not reported again on every rescan');
  });

  it('reports a symlink to /dev/zero as budget.json or shared file; a good file replaced by one keeps its previous version', async () => {
    const file = await put('a/budget.json', { limit_usd: 1, window: '1h' });
    const policies = await loadedStore();
    await link('a/budget.json', '/dev/zero');
    const zero = await link('_shared/zero.json', '/dev/zero');
    const fresh = await link('c/budget.json', '/dev/zero');
    await policies.reload();
    assert.deepEqual(
      errors.sort(),
      [
        `${file}: not a regular file; its previous version stays in force until the file parses again`,
        `${fresh}: not a regular file`,
        `${zero}: not a regular file`,
      ].sort(),
    );
    assert.deepEqual(limits(policies.effective(makeAgent(), NOW)), [['agent:a/usd/1h', 1_000_000]]);
    assert.equal(reason(policies.effective(makeAgent({ id: 'c' }), NOW)), `${fresh}: not a regular file`);
  });

  it('follows symlinks to regular files and directories (as a ConfigMap mounts them)', async () => {
    const elsewhere = await mkdtemp(join(tmpdir(), 'tollgate-gov-target-'));
    try {
      await writeFile(join(elsewhere, 'team.json'), JSON.stringify({ max_requests: 10, window: '1m' }));
      await mkdir(join(elsewhere, 'a'));
      await writeFile(join(elsewhere, 'a', 'budget.json'), JSON.stringify({ limit_usd: 3, window: '1h', shared: ['team'] }));
      await link('_shared/team.json', join(elsewhere, 'team.json'));
      await link('a', join(elsewhere, 'a'));
      const policies = await loadedStore();
      assert.deepEqual(errors, []);
      assert.deepEqual(limits(policies.effective(makeAgent(), NOW)), [
        ['agent:a/usd/1h', 3_000_000],
        ['shared:team/requests/1m', 10],
      ]);
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('loads every file when the error reporter throws', async () => {
    await put('a/budget.json', '{broken');
    await put('b/budget.json', { limit_usd: 2, window: '1h', extra: 1 });
    await put('c/budget.json', { limit_usd: 3, window: '1h' });
    store = new PolicyStore({
      governanceDir: dir,
      onError: () => {
        throw new Error('logger down');
      },
    });
    await store.reload();
    assert.deepEqual(limits(store.effective(makeAgent({ id: 'b' }), NOW)), [['agent:b/usd/1h', 2_000_000]]);
    assert.deepEqual(limits(store.effective(makeAgent({ id: 'c' }), NOW)), [['agent:c/usd/1h', 3_000_000]]);
  });
});
