// PolicyStore against a real governance directory: load, validate on change, reload, watch, cache, expiry, write and clear.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyStore, PolicyValidationError } from '../../../src/budget/policy/store.ts';
import type { EffectivePolicy, PolicyResult } from '../../../src/budget/policy/policy.ts';
import { makeAgent } from './helpers.ts';
import { waitFor } from '../../helpers/wait.ts';

let dir: string;
let store: PolicyStore | null = null;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tollgate-gov-'));
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

function asPolicy(result: PolicyResult): EffectivePolicy {
  assert.equal(result.kind, 'policy', result.kind === 'unavailable' ? result.problems.join('\n') : '');
  return result as EffectivePolicy;
}

const NOW = Date.parse('2026-03-01T00:00:00Z');

describe('PolicyStore', () => {
  it('loads governance and shared files at start; the governance file wins', async () => {
    await put('a/budget.json', { limit_usd: 2, shared: ['team'] });
    await put('_shared/team.json', { max_requests: 100, window: '1d' });
    store = new PolicyStore({ governanceDir: dir });
    await store.start();
    const policy = asPolicy(store.effective(makeAgent({ budget: { limit_usd: 1, window: '1h' } }), NOW));
    assert.deepEqual(
      policy.limits.map((spec) => [spec.id, spec.limit]),
      [
        ['agent:a/usd/1h', 2_000_000],
        ['shared:team/requests/1d', 100],
      ],
    );
    assert.equal(policy.sources.limit_usd?.file, join(dir, 'a/budget.json'));
    assert.equal(policy.sources.window?.file, '/ctx/a/metadata.json');
    assert.deepEqual(
      store.listShared().map((shared) => [shared.name, shared.problems, shared.limits.length]),
      [['team', [], 1]],
    );
  });

  it('reports every problem with file and field as soon as a file is loaded', async () => {
    const bad = await put('a/budget.json', { limit_usd: 0, window: '7 days', extra: 1 });
    const broken = await put('b/budget.json', '{bad-json');
    const shared = await put('_shared/team.json', { limit_usd: 5 });
    const errors: string[] = [];
    store = new PolicyStore({ governanceDir: dir, onError: (file, message) => errors.push(`${file}: ${message}`) });
    await store.start();
    assert.deepEqual(
      errors.sort(),
      [
        `${bad}: extra: unknown field, ignored`,
        `${bad}: limit_usd: must be > 0`,
        `${bad}: window: must be a positive duration like 1h or 7d`,
        `${broken}: not valid JSON (at line 1, column 2)`,
        `${shared}: window: is required when limit_usd is set`,
      ].sort(),
    );
    assert.equal(store.effective(makeAgent({ id: 'b' }), NOW).kind, 'unavailable');
    assert.match((store.effective(makeAgent({ id: 'b' }), NOW) as { reason: string }).reason, /b\/budget\.json: not valid JSON \(at line 1, column 2\)$/);
  });

  it('picks up a change on reload, keeps unchanged files, and recomputes the cached policy', async () => {
    const file = await put('a/budget.json', { limit_usd: 1, window: '1h' });
    const changes: string[][] = [];
    store = new PolicyStore({ governanceDir: dir, onChange: (files) => changes.push([...files]) });
    await store.reload(); // no watcher: only the explicit reloads below rescan
    const agent = makeAgent();
    const first = store.effective(agent, NOW);
    assert.equal(store.effective(agent, NOW), first, 'cached while nothing changed');
    await store.reload();
    assert.equal(changes.length, 1, 'an unchanged file is not reported again');
    await writeFile(file, JSON.stringify({ limit_usd: 3, window: '2h' }));
    await store.reload();
    assert.deepEqual(changes[1], [file]);
    const second = asPolicy(store.effective(agent, NOW));
    assert.notEqual(second, first);
    assert.equal(second.limits[0].id, 'agent:a/usd/2h');
    await rm(file);
    await store.reload();
    assert.deepEqual(asPolicy(store.effective(agent, NOW)).limits, []);
  });

  it('keeps the last good version of a file that stops parsing (a half-written save, a typo), and takes the fixed one', async () => {
    const file = await put('a/budget.json', { limit_usd: 1, window: '1h' });
    const shared = await put('_shared/team.json', { max_requests: 10, window: '1m' });
    const errors: string[] = [];
    store = new PolicyStore({ governanceDir: dir, onError: (source, message) => errors.push(`${source}: ${message}`) });
    await store.reload();
    const agent = makeAgent({ budget: { shared: ['team'] } });
    await writeFile(file, '{"limit_usd": 0.5, "wind');
    await writeFile(shared, '');
    await store.reload();
    const kept = asPolicy(store.effective(agent, NOW));
    assert.deepEqual(
      kept.limits.map((spec) => [spec.id, spec.limit]),
      [
        ['agent:a/usd/1h', 1_000_000],
        ['shared:team/requests/1m', 10],
      ],
      'both limits still in force',
    );
    assert.deepEqual(
      errors.sort(),
      [
        `${file}: not valid JSON (at line 1, column 25); its previous version stays in force until the file parses again`,
        `${shared}: not valid JSON (the file is empty); its previous version stays in force until the file parses again`,
      ].sort(),
    );
    await writeFile(file, JSON.stringify({ limit_usd: 0.5, window: '1h' }));
    await store.reload();
    assert.equal(asPolicy(store.effective(agent, NOW)).limits[0].limit, 500_000, 'the fixed file applies');
    await rm(file);
    await store.reload();
    await put('a/budget.json', '{broken');
    await store.reload();
    assert.equal(store.effective(makeAgent(), NOW).kind, 'unavailable', 'with no good version to keep, the check is unavailable as before');
  });

  it('notices a written file by itself (watch or periodic rescan)', async () => {
    const watching = new PolicyStore({ governanceDir: dir, pollMs: 25 });
    store = watching;
    await watching.start();
    await put('a/budget.json', { max_requests: 5, window: '1m' });
    // writeFile is not atomic: a watch can fire on the file still empty (read as unavailable), then again once written
    await waitFor(() => {
      const result = watching.effective(makeAgent(), NOW);
      return result.kind === 'policy' && result.limits.length > 0;
    }, 'the written policy in force');
    assert.equal(asPolicy(watching.effective(makeAgent(), NOW)).limits[0].limit, 5);
  });

  it('recomputes for a replaced agent object', async () => {
    store = new PolicyStore({ governanceDir: null });
    await store.start();
    assert.equal(asPolicy(store.effective(makeAgent({ budget: { limit_usd: 1, window: '1h' } }), NOW)).limits[0].limit, 1_000_000);
    assert.equal(asPolicy(store.effective(makeAgent({ budget: { limit_usd: 4, window: '1h' } }), NOW)).limits[0].limit, 4_000_000);
  });

  it('stops applying an expired override by itself, without a file read', async () => {
    await put('a/budget.json', { limit_usd: 100, expires_at: '2026-03-01T01:00:00Z', reason: 'incident', set_by: 'ops' });
    store = new PolicyStore({ governanceDir: dir });
    await store.reload(); // loaded once, not watched: deleting the file below goes unnoticed
    const agent = makeAgent({ budget: { limit_usd: 1, window: '1h' } });
    assert.equal(asPolicy(store.effective(agent, NOW)).limits[0].limit, 100_000_000);
    await rm(join(dir, 'a'), { recursive: true });
    const after = asPolicy(store.effective(agent, Date.parse('2026-03-01T01:00:00Z')));
    assert.equal(after.limits[0].limit, 1_000_000);
    assert.deepEqual(
      after.expired.map((source) => source.kind),
      ['governance'],
    );
  });

  it('makes the check unavailable when the context override did not parse', async () => {
    store = new PolicyStore({ governanceDir: null });
    await store.start();
    const result = store.effective(makeAgent({ budget: { limit_usd: 1, window: '1h' }, overrideError: 'invalid JSON (Unexpected token)' }), NOW);
    assert.equal(result.kind, 'unavailable');
    assert.equal((result as { reason: string }).reason, '/ctx/a/budget-override.json: invalid JSON (Unexpected token)');
  });

  it('writes an override atomically, reloads, and clears it', async () => {
    store = new PolicyStore({ governanceDir: dir });
    await store.start();
    const agent = makeAgent({ budget: { limit_usd: 1, window: '1h' } });
    await store.writeOverride('a', { limit_usd: 7, reason: 'raise', set_by: 'admin' });
    assert.equal(store.governanceFile('a'), join(dir, 'a', 'budget.json'));
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'a', 'budget.json'), 'utf8')), { limit_usd: 7, reason: 'raise', set_by: 'admin' });
    assert.deepEqual(await readdir(join(dir, 'a')), ['budget.json'], 'no temp file left behind');
    const raised = asPolicy(store.effective(agent, NOW));
    assert.equal(raised.limits[0].limit, 7_000_000);
    assert.equal(raised.fields.set_by, 'admin');
    assert.equal(await store.clearOverride('a'), true);
    assert.equal(asPolicy(store.effective(agent, NOW)).limits[0].limit, 1_000_000);
    assert.equal(await store.clearOverride('a'), false);
  });

  it('refuses an invalid override, a path-like agent id, and writing without a governance directory', async () => {
    store = new PolicyStore({ governanceDir: dir });
    await store.start();
    await assert.rejects(store.writeOverride('a', { limit_usd: -1, window: 'x' }), (error: unknown) => {
      assert.ok(error instanceof PolicyValidationError);
      assert.deepEqual(error.problems, ['limit_usd: must be > 0', 'window: must be a positive duration like 1h or 7d']);
      return true;
    });
    await assert.rejects(store.writeOverride('../etc', { limit_usd: 1 }), PolicyValidationError);
    await assert.rejects(store.writeOverride('a', 'nope'), PolicyValidationError);
    assert.equal(store.governanceFile('..'), null);
    assert.deepEqual(await readdir(dir), []);
    const none = new PolicyStore({ governanceDir: null });
    await none.start();
    await assert.rejects(none.writeOverride('a', { limit_usd: 1 }), /CLAW_GOVERNANCE_DIR is not set/);
    await none.close();
  });

  it('ignores directories that are not plain agent ids and a missing governance directory', async () => {
    await put('.hidden/budget.json', { limit_usd: 1, window: '1h' });
    store = new PolicyStore({ governanceDir: join(dir, 'missing') });
    await store.start();
    assert.deepEqual(asPolicy(store.effective(makeAgent(), NOW)).limits, []);
  });
});
