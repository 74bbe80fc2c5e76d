// Secrets an agent or an upstream slips into logged fields (model, error, ids) never reach the audit log or the live feed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { leaksKey, randomKey } from '../helpers/key-echo.ts';
import { seededRandom } from '../helpers/random.ts';
import { waitFor } from '../helpers/wait.ts';

const random = seededRandom(2116);
const AGENT_SECRET = randomKey(random);
const LATER_SECRET = randomKey(random);
const UI_TOKEN = randomKey(random);
const PROVIDER_KEY = randomKey(random);

describe('secrets in logged fields', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ agents: { a: { token: `a:${AGENT_SECRET}` } }, providerKeys: { openai: PROVIDER_KEY }, env: { CLLAMA_UI_TOKEN: UI_TOKEN } });
  });
  after(async () => {
    await h.close();
  });

  it('are masked in every audit line and feed frame: agent secrets (also one added later), the UI token, provider keys', async () => {
    const stop = new AbortController();
    const feed = await fetch(`${h.tollgate.uiUrl}/api/events?replay=0&types=request,response,error&token=${encodeURIComponent(UI_TOKEN)}`, {
      signal: stop.signal,
    });
    assert.equal(feed.status, 200);
    let frames = '';
    const reading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of feed.body as unknown as AsyncIterable<Uint8Array>) frames += decoder.decode(chunk, { stream: true });
    })().catch(() => undefined);
    const call = (token: string, model: string) =>
      fetch(`${h.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }] }),
      });
    // an agent's own fields, logged as it sent them: its model string (unknown provider, and a routed one)
    const shapes = (secret: string) => [secret, secret.toLowerCase(), secret.slice(2, 16)];
    let calls = 0;
    for (const secret of [AGENT_SECRET, UI_TOKEN, PROVIDER_KEY]) {
      for (const shape of shapes(secret)) {
        await call(`a:${AGENT_SECRET}`, `nowhere/${shape}`);
        await call(`a:${AGENT_SECRET}`, `openai/${shape}`);
        calls += 2;
      }
    }
    // an agent that appears while tollgate runs
    mkdirSync(join(h.root, 'context', 'c'), { recursive: true });
    writeFileSync(join(h.root, 'context', 'c', 'metadata.json'), JSON.stringify({ token: `c:${LATER_SECRET}`, service: 'c', pod: 'p', type: 't' }));
    for (let tries = 0; (await call(`c:${LATER_SECRET}`, 'openai/gpt-4o')).status === 401; tries++) {
      assert.ok(tries < 500, 'agent c was never loaded');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    calls += 1;
    for (const shape of shapes(LATER_SECRET)) {
      await call(`c:${LATER_SECRET}`, `openai/${shape}`);
      calls += 1;
    }
    await waitFor(() => (frames.match(/"type":"(response|error)"/g) ?? []).length >= calls, 'a frame per call');
    stop.abort();
    await reading;
    const audit = h.events.map((event) => JSON.stringify(event)).join('\n');
    assert.ok(audit.includes('nowhere/[REDACTED]'), 'the rest of the field is kept');
    for (const [name, secret] of Object.entries({ AGENT_SECRET, LATER_SECRET, UI_TOKEN, PROVIDER_KEY })) {
      assert.ok(!leaksKey(audit, secret), `${name} in the audit log`);
      assert.ok(!leaksKey(frames, secret), `${name} in the live feed`);
    }
    for (const line of frames.split('\n').filter((text) => text.startsWith('data: {'))) JSON.parse(line.slice(6)); // frames stay JSON
  });
});
