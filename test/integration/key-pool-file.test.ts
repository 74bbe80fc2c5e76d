// providers.json as the pool's durable form: an operator's edit applies without a restart, and writes merge into it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { credentialOf } from '../helpers/fake-credentials.ts';
import { waitFor } from '../helpers/wait.ts';

const K0 = 'sk-file-key-zero-000000';
const K1 = 'sk-file-key-one-1111111';
const K2 = 'sk-file-key-two-2222222';

describe('providers.json watched and merged', () => {
  let h: Harness;
  const path = () => join(h.root, 'auth', 'providers.json');
  const read = () => JSON.parse(readFileSync(path(), 'utf8'));
  /** An operator's edit, written the way editors and cllama do: a temp file renamed over. */
  const edit = (change: (doc: { providers: Record<string, { keys: Record<string, unknown>[] } & Record<string, unknown>> }) => void) => {
    const doc = read();
    change(doc);
    writeFileSync(`${path()}.edit`, JSON.stringify(doc, null, 2));
    renameSync(`${path()}.edit`, path());
  };
  const ask = () =>
    new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token('a'), maxRetries: 0 }).chat.completions.create({
      model: 'openai/gpt-4o',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 5,
    });
  const poolKeys = () => h.tollgate.deps.keys.get('openai')?.keys.map((key) => key.id) ?? [];
  const lastKey = () => credentialOf(h.fake.requests.at(-1)!.headers);

  before(async () => {
    // v1 as cllama's first pods had it: one api_key (forward_headers only to steer the fake upstream)
    h = await startHarness({ providers: ['openai'], providerKeys: { openai: K0 } });
  });
  after(() => h.close());

  it('a v1 file becomes cllama v2 at the first write, its seeded key kept with its id', async () => {
    h.fake.byKey = { [K0]: { status: 429, headers: { 'retry-after-ms': '300' } } };
    await ask().catch(() => undefined);
    h.fake.byKey = {};
    await waitFor(() => read().version === 2, 'the v2 file');
    const openai = read().providers.openai;
    assert.equal(openai.keys[0].id, 'seed:OPENAI_API_KEY');
    assert.equal(openai.keys[0].state, 'cooldown');
    assert.equal(openai.api_key, undefined);
    assert.ok(Array.isArray(openai.forward_headers), 'the fields tollgate added are kept');
    await new Promise((resolve) => setTimeout(resolve, 350));
  });

  it("an operator's edit applies without a restart: a key added, the active key changed", async () => {
    edit((doc) => {
      doc.providers.openai.keys.push({ id: 'ops-1', label: 'from ops', secret: K1, state: 'ready' });
      doc.providers.openai.active_key_id = 'ops-1';
    });
    await waitFor(() => poolKeys().includes('ops-1'), 'the reload');
    await ask();
    assert.equal(lastKey(), K1, 'the new active key is used');
  });

  it("a write merges into the file as it is: another writer's key and the operator's fields survive", async () => {
    edit((doc) => {
      doc.providers.openai.keys.push({ id: 'ops-2', secret: K2, state: 'disabled' });
      doc.providers.openai.note = 'kept';
    });
    await waitFor(() => poolKeys().includes('ops-2'), 'the reload');
    h.fake.byKey = { [K1]: { status: 401 } };
    await ask().catch(() => undefined);
    h.fake.byKey = {};
    await waitFor(() => read().providers.openai.keys.find((key: { id: string }) => key.id === 'ops-1')?.state === 'dead', 'the dead mark written');
    const openai = read().providers.openai;
    assert.equal(openai.note, 'kept');
    // the seed key's expired cooldown is not written until it changes again (as cllama)
    assert.deepEqual(openai.keys.map((key: { id: string; state: string }) => [key.id, key.state]).slice(1), [
      ['ops-1', 'dead'],
      ['ops-2', 'disabled'],
    ]);
    assert.equal(openai.keys[0].id, 'seed:OPENAI_API_KEY');
    assert.equal(readFileSync(path(), 'utf8').includes('\n}\n'), false, 'no trailing newline');
  });
});
