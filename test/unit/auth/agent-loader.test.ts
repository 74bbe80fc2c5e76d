// Loading one agent directory: what the fingerprint's stat saw missing is not opened, and appearing later changes the fingerprint.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentFiles, loadAgentDir } from '../../../src/auth/agent-loader.ts';
import { CONTEXT_OVERRIDE_FILE } from '../../../src/auth/agent.ts';

describe('agent directory loading', () => {
  it('reads the optional files the stat saw, skips those it saw missing, and a file added since changes the fingerprint', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-agent-'));
    await writeFile(join(dir, 'metadata.json'), JSON.stringify({ token: 'a:secret' }));
    const before = agentFiles(dir);
    assert.ok(before);
    assert.deepEqual([before.override, before.serviceAuth], [false, []]);
    // written after the stat (between a scan's stat and its read)
    await writeFile(join(dir, CONTEXT_OVERRIDE_FILE), JSON.stringify({ limits: [] }));
    await mkdir(join(dir, 'service-auth'));
    await writeFile(join(dir, 'service-auth', 'history.json'), JSON.stringify({ service: 'cllama-history', auth_type: 'bearer', token: 'replay-1' }));

    const stale = await loadAgentDir({ id: 'a', dir, files: before });
    assert.equal(stale.kind, 'loaded');
    assert.equal(stale.kind === 'loaded' && stale.loaded.agent.contextOverride, undefined, 'not opened: the stat saw it missing');
    assert.deepEqual(stale.kind === 'loaded' && stale.loaded.agent.historyTokens, []);

    const after = agentFiles(dir);
    assert.ok(after);
    assert.notEqual(after.fingerprint, before.fingerprint, 'the next scan sees a change, and loads the agent again');
    assert.deepEqual([after.override, after.serviceAuth], [true, ['history.json']]);
    const fresh = await loadAgentDir({ id: 'a', dir, files: after });
    const plain = await loadAgentDir({ id: 'a', dir });
    for (const load of [fresh, plain]) {
      assert.equal(load.kind, 'loaded');
      assert.deepEqual(load.kind === 'loaded' && load.loaded.agent.contextOverride, { limits: [] });
      assert.deepEqual(load.kind === 'loaded' && load.loaded.agent.historyTokens, ['replay-1']);
    }
    await rm(dir, { recursive: true });
  });
});
