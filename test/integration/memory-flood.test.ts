// A flood of large bodies against the real binary on a small heap: it ends in refusals in the caller's wire format (429
// for the agent's share, 503 for the whole), the process serves throughout, and another agent's small call is served.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.ts';
import { TEST_FORWARD_HEADERS } from '../helpers/harness.ts';
import { freePort, startProxyProcess, type RunningProxy } from '../helpers/process.ts';

const MiB = 1024 * 1024;
const AGENTS = ['big', 'small', 'g1', 'g2', 'g3', 'g4'];
/** Scaled from the finding (48 × 30 MiB under a 32 MiB limit against a 4 GB heap): 24 × 6 MiB under 8 MiB against 256 MB. */
const FLOOD = {
  heapMb: 256,
  bodyMiB: 6,
  env: { TOLLGATE_MAX_BODY_BYTES: String(8 * MiB), TOLLGATE_MAX_BYTES_IN_FLIGHT: String(48 * MiB), TOLLGATE_MAX_AGENT_BYTES_IN_FLIGHT: String(16 * MiB) },
};
/** Each admitted call waits upstream until the test releases it, so the flood's admitted bodies are all in flight together. */
const HELD = JSON.stringify({ hold: true });

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Record<string, unknown>;
}

/** One POST with a raw body; a connection that breaks (a crashed proxy) resolves with status 0. */
function post(input: { url: string; path: string; token: string; body: Buffer; headers?: Record<string, string> }): Promise<Answer> {
  const { hostname, port } = new URL(input.url);
  return new Promise((resolve) => {
    const req = request(
      {
        host: hostname,
        port,
        path: input.path,
        method: 'POST',
        headers: {
          authorization: `Bearer ${input.token}`,
          'content-type': 'application/json',
          'content-length': input.body.length,
          'anthropic-version': '2023-06-01',
          ...input.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          let body: Record<string, unknown> = {};
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            body = {};
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
        res.on('error', () => resolve({ status: 0, headers: {}, body: {} }));
      },
    );
    req.on('error', () => resolve({ status: 0, headers: {}, body: {} }));
    req.end(input.body);
  });
}

/**
 * Sends the flood and waits until every call is either answered (refused) or held upstream, then lets the held ones
 * be answered: how many got through depends on the bounds alone, not on how fast this machine uploads.
 */
async function floodHeld(fake: FakeUpstream, calls: Array<() => Promise<Answer>>): Promise<Answer[]> {
  let answered = 0;
  const flood = calls.map((call) =>
    call().then((answer) => {
      answered += 1;
      return answer;
    }),
  );
  const deadline = Date.now() + 45_000;
  while (answered + fake.held < calls.length) {
    if (Date.now() > deadline) throw new Error(`flood never settled: ${answered} answered, ${fake.held} held upstream`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  fake.releaseHeld();
  return Promise.all(flood);
}

function largeBody(model: string, mib: number): Buffer {
  return Buffer.from(JSON.stringify({ model, max_tokens: 5, messages: [{ role: 'user', content: 'x'.repeat(mib * MiB) }] }));
}

function assertRetryHeaders(answer: Answer): void {
  assert.equal(answer.headers['x-should-retry'], 'true');
  assert.equal(answer.headers['retry-after'], '1');
  assert.equal(answer.headers['retry-after-ms'], '1000');
}

describe('a flood of large bodies on a small heap', () => {
  let fake: FakeUpstream;
  let root: string;
  let proxy: RunningProxy;
  before(async () => {
    fake = await startFakeUpstream();
    root = mkdtempSync(join(tmpdir(), 'tollgate-flood-'));
    for (const id of AGENTS) {
      mkdirSync(join(root, 'context', id), { recursive: true });
      writeFileSync(join(root, 'context', id, 'metadata.json'), JSON.stringify({ token: `${id}:s-${id}` }));
    }
    mkdirSync(join(root, 'auth'));
    const providers = {
      openai: { base_url: `${fake.url}/v1`, api_key: 'sk-flood-openai', auth: 'bearer', forward_headers: TEST_FORWARD_HEADERS },
      anthropic: { base_url: `${fake.url}/v1`, api_key: 'sk-flood-anthropic', auth: 'x-api-key', forward_headers: TEST_FORWARD_HEADERS },
    };
    writeFileSync(join(root, 'auth', 'providers.json'), JSON.stringify({ providers }));
    const env = { CLAW_CONTEXT_ROOT: join(root, 'context'), CLAW_AUTH_DIR: join(root, 'auth'), CLAW_SESSION_HISTORY_DIR: join(root, 'history'), ...FLOOD.env };
    proxy = await startProxyProcess({ env, port: await freePort(), nodeArgs: [`--max-old-space-size=${FLOOD.heapMb}`] });
  });
  after(async () => {
    await proxy?.stop();
    await fake.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("one agent's 24 concurrent 6 MiB bodies end in 429s for its share; the process serves, another agent is served", async () => {
    const body = largeBody('openai/gpt-4o-mini', FLOOD.bodyMiB);
    const flood = Array.from(
      { length: 24 },
      () => () => post({ url: proxy.url, path: '/v1/chat/completions', token: 'big:s-big', body, headers: { 'x-fake-behavior': HELD } }),
    );
    const small = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'small:s-small', maxRetries: 0 }).chat.completions.create({
      model: 'openai/gpt-4o-mini',
      max_tokens: 5,
      messages: [{ role: 'user', content: 'a small call during the flood' }],
    });
    const answers = await floodHeld(fake, flood);
    assert.equal((await small).choices.length, 1, "the other agent's small call is served");

    assert.deepEqual(
      answers.filter((answer) => answer.status !== 200 && answer.status !== 429).map((answer) => answer.status),
      [],
      'every call is answered: served or refused, none cut by a crash',
    );
    const served = answers.filter((answer) => answer.status === 200);
    const refused = answers.filter((answer) => answer.status === 429);
    // the agent's share (16 MiB) holds two 6 MiB bodies at a time
    assert.equal(served.length, 2, `served ${served.length}`);
    assert.equal(refused.length, 24 - served.length);
    for (const answer of refused) {
      assert.deepEqual(answer.body.error, {
        message: 'this agent holds its share of request bytes in flight (TOLLGATE_MAX_AGENT_BYTES_IN_FLIGHT): retry once its calls in flight finish',
        type: 'rate_limit_error',
        param: null,
        code: 'agent_capacity_exhausted',
      });
      assertRetryHeaders(answer);
    }
    assert.equal(proxy.child.exitCode, null, 'still running');
    const health = (await (await fetch(`${proxy.url}/health`)).json()) as { ok: boolean; bytes_in_flight: number };
    assert.deepEqual([health.ok, health.bytes_in_flight], [true, 0], 'every byte held by the flood is given back');
  });

  it('four agents flooding /v1/messages together meet the global bound: 503 in the Anthropic envelope', async () => {
    const body = largeBody('anthropic/claude-sonnet-4-5', FLOOD.bodyMiB);
    const flood = ['g1', 'g2', 'g3', 'g4'].flatMap((id) =>
      Array.from({ length: 6 }, () => () => post({ url: proxy.url, path: '/v1/messages', token: `${id}:s-${id}`, body, headers: { 'x-fake-behavior': HELD } })),
    );
    const answersHeld = floodHeld(fake, flood);
    const small = post({
      url: proxy.url,
      path: '/v1/messages',
      token: 'small:s-small',
      body: Buffer.from(JSON.stringify({ model: 'anthropic/claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })),
    });
    const answers = await answersHeld;
    assert.deepEqual(
      answers.filter((answer) => ![200, 429, 503].includes(answer.status)).map((answer) => answer.status),
      [],
    );
    const served = answers.filter((answer) => answer.status === 200).length;
    // 48 MiB in flight hold seven 6 MiB bodies; with two per agent, four agents would hold eight: the whole refuses first
    assert.equal(served, 7, `served ${served}`);
    const globalRefusals = answers.filter((answer) => answer.status === 503);
    assert.ok(globalRefusals.length >= 1, "at least one call is refused for the whole, not for its agent's share");
    for (const answer of globalRefusals) {
      assert.equal(answer.body.type, 'error');
      assert.deepEqual(answer.body.error, {
        type: 'overloaded_error',
        message: 'tollgate holds as many request bytes as it is configured for (TOLLGATE_MAX_BYTES_IN_FLIGHT): retry shortly',
        code: 'capacity_exhausted',
      });
      assertRetryHeaders(answer);
    }
    for (const answer of answers.filter((answer) => answer.status === 429))
      assert.equal((answer.body.error as { type: string; code: string }).code, 'agent_capacity_exhausted');
    const smallAnswer = await small;
    assert.ok(smallAnswer.status === 200 || smallAnswer.status === 503, `small call answered ${smallAnswer.status}`);
    assert.equal(proxy.child.exitCode, null, 'still running');
    const after = await post({
      url: proxy.url,
      path: '/v1/messages',
      token: 'small:s-small',
      body: Buffer.from(JSON.stringify({ model: 'anthropic/claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'after' }] })),
    });
    assert.equal(after.status, 200, 'served once the flood has passed');
  });
});
