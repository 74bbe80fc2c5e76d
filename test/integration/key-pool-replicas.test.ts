// Three replicas on one Redis, each with its own providers.json: a key one replica saw refused is skipped by all.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startHarness, TEST_FORWARD_HEADERS, type Harness } from '../helpers/harness.ts';
import { credentialOf } from '../helpers/fake-credentials.ts';
import { ledgerChoice } from '../helpers/ledger-choice.ts';
import { waitFor } from '../helpers/wait.ts';

const K0 = 'sk-replica-key-zero-0000';
const K1 = 'sk-replica-key-one-11111';

describe('key health shared by replicas on Redis', () => {
  const ledger = ledgerChoice('redis', 'key-pool-replicas');
  const replicas: Harness[] = [];
  const clients: OpenAI[] = [];

  before(async () => {
    await ledger.ready();
    const providersFile = (url: string) => ({
      version: 2,
      providers: {
        openai: {
          base_url: `${url}/v1`,
          active_key_id: 'k0',
          forward_headers: TEST_FORWARD_HEADERS,
          keys: [
            { id: 'k0', label: 'primary', secret: K0, state: 'ready' },
            { id: 'k1', label: 'backup-1', secret: K1, state: 'ready' },
          ],
        },
      },
    });
    const first = await startHarness({ providersFile, env: ledger.env });
    replicas.push(first);
    for (const n of [2, 3]) {
      // an auth dir of its own: what it learns comes through Redis, not through a shared file
      const auth = join(first.root, `auth-${n}`);
      mkdirSync(auth);
      copyFileSync(join(first.root, 'auth', 'providers.json'), join(auth, 'providers.json'));
      const env = { ...ledger.env, CLAW_AUTH_DIR: auth, CLAW_SESSION_HISTORY_DIR: join(first.root, `history-${n}`) };
      replicas.push(await startHarness({ providersFile, env }, { root: first.root, fake: first.fake }));
    }
    for (const replica of replicas) clients.push(new OpenAI({ baseURL: `${replica.url}/v1`, apiKey: replica.token('a'), maxRetries: 0 }));
  });

  after(async () => {
    for (const replica of replicas.slice(1)) await replica.tollgate.close();
    await replicas[0]?.close();
    await ledger.drop();
  });

  const ask = (client: OpenAI) => client.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 });
  const remote = (replica: Harness, action: string) =>
    replica.events.some((event) => event.type === 'provider_pool' && event.key_id === 'k0' && event.action === action && event.replica === 'remote');

  it('a 429 on replica 1 cools the key on replicas 2 and 3: the upstream sees no call with it until it is back', async () => {
    const fake = replicas[0].fake;
    fake.byKey = { [K0]: { status: 429, headers: { 'retry-after-ms': '2500' } } };
    await ask(clients[0]);
    const marked = fake.requests.length;
    fake.byKey = {}; // the key would answer now: only the shared cooldown keeps the others off it
    await waitFor(() => remote(replicas[1], 'cooldown') && remote(replicas[2], 'cooldown'), 'replicas 2 and 3 to learn the cooldown');
    await Promise.all([1, 2, 1, 2, 1, 2].map((index) => ask(clients[index])));
    const during = fake.requests.slice(marked).map((request) => credentialOf(request.headers));
    assert.deepEqual(
      during,
      during.map(() => K1),
      'no replica sends the cooling key',
    );
    // once the cooldown ends, the active key is used again everywhere
    await new Promise((resolve) => setTimeout(resolve, 2600));
    const after = fake.requests.length;
    await ask(clients[1]);
    await ask(clients[2]);
    assert.deepEqual(
      fake.requests.slice(after).map((request) => credentialOf(request.headers)),
      [K0, K0],
    );
  });

  it('a key dead on replica 2 is dead on replicas 1 and 3', async () => {
    const fake = replicas[0].fake;
    fake.byKey = { [K0]: { status: 401 } };
    await ask(clients[1]);
    const marked = fake.requests.length;
    await waitFor(() => remote(replicas[0], 'dead') && remote(replicas[2], 'dead'), 'replicas 1 and 3 to learn the death');
    await Promise.all([0, 2, 0, 2].map((index) => ask(clients[index])));
    assert.deepEqual(
      fake.requests.slice(marked).map((request) => credentialOf(request.headers)),
      [K1, K1, K1, K1],
    );
  });
});
