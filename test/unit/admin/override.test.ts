// Override bodies: strict fields, a required reason, nulls dropped, set_by defaulted, past expiry refused; unusable merges refused before writing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminError } from '../../../src/admin/http.ts';
import { overrideContent, setOverride, type OverrideStore } from '../../../src/admin/override.ts';
import { PolicyStore } from '../../../src/budget/policy-store.ts';
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
    assert.deepEqual(overrideContent({ limit_usd: 2, window: '1h', behavior: null, reason: ' launch ' }, NOW), { limit_usd: 2, window: '1h', reason: 'launch', set_by: 'admin-api' });
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
      await assert.rejects(setOverride(deps, { agent: windowless, body: { limit_usd: 2, window: 'soon', reason: 'bad field' } }), /not a valid budget policy: window:/);
      assert.equal(events.length, 1, 'only the accepted override is audited');
    } finally {
      store.stop();
      await rm(governanceDir, { recursive: true, force: true });
    }
  });
});
