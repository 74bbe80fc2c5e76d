// Override bodies: strict fields, a required reason, nulls dropped, set_by defaulted, past expiry refused; unusable merges refused before writing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminError } from '../../../src/admin/http.ts';
import { clearOverride, overrideContent, readOverrideFile, setOverride, type OverrideStore } from '../../../src/admin/override.ts';
import { PolicyStore } from '../../../src/budget/policy/store.ts';
import { EventBus } from '../../../src/observability/events.ts';
import { makeAgent } from '../budget/helpers.ts';

const NOW = Date.parse('2026-03-01T00:00:00Z');

function refusal(body: unknown): AdminError {
  try {
    overrideContent(body, NOW);
  } catch (error) {
    assert.ok(error instanceof AdminError);
    return error;
  }
  assert.fail('expected a refusal');
}

describe('overrideContent', () => {
  it('keeps what is set, drops nulls, defaults set_by', () => {
    assert.deepEqual(overrideContent({ limit_usd: 2, window: '1h', behavior: null, reason: ' launch ' }, NOW), {
      limit_usd: 2,
      window: '1h',
      reason: 'launch',
      set_by: 'admin-api',
    });
    assert.deepEqual(
      overrideContent({ limits: [{ limit_usd: 5, window: '1h' }], shared: ['team'], reason: 'r', set_by: 'ops', expires_at: '2026-03-02T00:00:00Z' }, NOW),
      { limits: [{ limit_usd: 5, window: '1h' }], shared: ['team'], reason: 'r', set_by: 'ops', expires_at: '2026-03-02T00:00:00Z' },
    );
  });

  it('refuses unknown fields, wrong types, a missing reason, no budget field, and a past or malformed expiry', () => {
    assert.match(refusal({ limit_usd: 1, reason: 'r', colour: 'red' }).message, /colour/);
    assert.match(refusal({ limit_usd: '1', reason: 'r' }).message, /limit_usd/);
    assert.match(refusal({ max_requests: 1.5, reason: 'r' }).message, /max_requests/);
    assert.match(refusal({ limit_usd: 1 }).message, /reason/);
    assert.match(refusal({ limit_usd: 1, reason: '   ' }).message, /reason/);
    assert.match(refusal({ reason: 'r', behavior: null }).message, /at least one budget field/);
    assert.match(refusal({ limit_usd: 1, reason: 'r', expires_at: '2026-02-01T00:00:00Z' }).message, /past/);
    assert.match(refusal({ limit_usd: 1, reason: 'r', expires_at: 'tomorrow' }).message, /expires_at/);
    assert.equal(refusal(null).code, 'invalid_request');
    assert.equal(refusal([1]).status, 400);
  });
});

describe('setOverride', () => {
  it('refuses an override that would make the merged policy unusable on a dry run: the file is never written', async () => {
    const governanceDir = await mkdtemp(join(tmpdir(), 'tollgate-override-'));
    const store = new PolicyStore({ governanceDir });
    await store.start();
    const writes: unknown[] = [];
    const recording: OverrideStore = {
      effective: (agent, now) => store.effective(agent, now),
      overrideProblems: (agentId, policy) => store.overrideProblems(agentId, policy),
      previewOverride: (agent, policy, now) => store.previewOverride(agent, policy, now),
      governanceFile: (agentId) => store.governanceFile(agentId),
      writeOverride: async (agentId, policy) => {
        writes.push(policy);
        await store.writeOverride(agentId, policy);
      },
      clearOverride: (agentId) => store.clearOverride(agentId),
      reload: () => store.reload(),
    };
    const events: unknown[] = [];
    const bus = new EventBus();
    bus.subscribe((event) => events.push(event));
    const deps = { store: recording, bus, now: () => NOW };
    try {
      const agent = makeAgent({ budget: { max_requests: 5, window: '1h' } });
      // the override sets no window of its own: fine when the metadata has one
      await setOverride(deps, { agent, body: { limit_usd: 2, reason: 'uses the metadata window' } });
      assert.equal(writes.length, 1);
      const windowless = makeAgent({ id: 'b', budget: { max_requests: 5 } });
      await assert.rejects(setOverride(deps, { agent: windowless, body: { limit_usd: 2, reason: 'no window anywhere' } }), (error: unknown) => {
        assert.ok(error instanceof AdminError);
        assert.equal(error.code, 'invalid_override');
        assert.match(error.message, /would make the agent's budget unusable: window: is required/);
        return true;
      });
      assert.equal(writes.length, 1, 'nothing written for the refused override');
      assert.deepEqual(await readdir(governanceDir), ['a']);
      await assert.rejects(
        setOverride(deps, { agent: windowless, body: { limit_usd: 2, window: 'soon', reason: 'bad field' } }),
        /not a valid budget policy: window:/,
      );
      assert.equal(events.length, 1, 'only the accepted override is audited');
    } finally {
      store.stop();
      await rm(governanceDir, { recursive: true, force: true });
    }
  });

  it('reads the governance file as the policy store does: a FIFO or a /dev/zero link is a problem shown, not a hang or a memory blow-up', async () => {
    const governanceDir = await mkdtemp(join(tmpdir(), 'tollgate-override-'));
    const store = new PolicyStore({ governanceDir });
    await store.start();
    const events: Record<string, unknown>[] = [];
    const bus = new EventBus();
    bus.subscribe((event) => events.push(event as Record<string, unknown>));
    const deps = { store, bus, now: () => NOW };
    try {
      await mkdir(join(governanceDir, 'a'));
      execFileSync('mkfifo', [join(governanceDir, 'a', 'budget.json')]); // no writer ever comes: a blocking read would hang
      assert.deepEqual(await readOverrideFile(store, 'a'), {
        file: join(governanceDir, 'a', 'budget.json'),
        present: true,
        content: null,
        error: 'not a regular file',
      });
      await mkdir(join(governanceDir, 'b'));
      await symlink('/dev/zero', join(governanceDir, 'b', 'budget.json'));
      assert.equal((await readOverrideFile(store, 'b')).error, 'not a regular file');
      await mkdir(join(governanceDir, 'c'));
      await writeFile(join(governanceDir, 'c', 'budget.json'), '[1]');
      assert.equal((await readOverrideFile(store, 'c')).error, 'not a JSON object');
      assert.deepEqual(await readOverrideFile(store, 'd'), { file: join(governanceDir, 'd', 'budget.json'), present: false, content: null });

      // replacing and clearing such a file works; the audit event's `previous` is null (there was no override to read)
      await setOverride(deps, { agent: makeAgent({ id: 'a' }), body: { limit_usd: 2, window: '1h', reason: 'replaces the fifo' } });
      assert.equal(events.at(-1)?.previous, null);
      assert.equal((await readOverrideFile(store, 'a')).present, true);
      await setOverride(deps, { agent: makeAgent({ id: 'a' }), body: { limit_usd: 3, window: '1h', reason: 'second' } });
      assert.deepEqual((events.at(-1)?.previous as Record<string, unknown>).limit_usd, 2, 'a readable previous override is in the event');
      assert.deepEqual(await clearOverride(deps, { agent: makeAgent({ id: 'b' }), reason: 'drop the link', setBy: null }), {
        file: join(governanceDir, 'b', 'budget.json'),
        cleared: true,
      });
      assert.equal(events.at(-1)?.previous, null);
    } finally {
      store.stop();
      await rm(governanceDir, { recursive: true, force: true });
    }
  });
});
