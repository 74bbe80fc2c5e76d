// Identity, configuration and key hygiene under a hostile or careless world: seeded churn of the context dir under traffic, hostile context dirs, mangled credentials, provider keys echoed back.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request as httpRequest, createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentRegistry } from '../../src/auth/registry.ts';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.ts';
import { freePort, startProxyProcess, type RunningProxy } from '../helpers/process.ts';
import { seededRandom } from '../helpers/random.ts';
import { waitFor } from '../helpers/wait.ts';

const SEED = Number(process.env.IDENTITY_SEED ?? 20260611);
const CHAT = '/v1/chat/completions';
const MESSAGES = '/v1/messages';

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

/** One call with exactly these headers (node:http, so odd but legal header bytes go out as they are). */
function call(input: { url: string; path: string; headers: Record<string, string>; body?: string }): Promise<Answer> {
  const body = input.body ?? JSON.stringify(input.path === CHAT
    ? { model: 'openai/gpt-4o', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }
    : { model: 'claude-sonnet-4-20250514', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${input.url}${input.path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...input.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The error code of a tollgate error in the route's own envelope (asserted), or null for an answer that is not one. */
function errorCode(answer: Answer, path: string): string | null {
  if (answer.status < 400) return null;
  const json = JSON.parse(answer.text) as Record<string, any>;
  if (path === MESSAGES) {
    assert.equal(json.type, 'error', `anthropic envelope on ${path}: ${answer.text}`);
    return json.error.code;
  }
  assert.equal(typeof json.error?.message, 'string', `openai envelope on ${path}: ${answer.text}`);
  return json.error.code;
}

/** Which 401 it is, read from the envelope of the route (the OpenAI one says `invalid_api_key` for both, as OpenAI does). */
function authError(answer: Answer, path: string): 'auth_missing' | 'auth_invalid' | string {
  const code = errorCode(answer, path);
  if (path === MESSAGES) return String(code);
  assert.equal(code, 'invalid_api_key', answer.text);
  const message = (JSON.parse(answer.text) as { error: { message: string } }).error.message;
  if (message === 'invalid bearer token') return 'auth_missing';
  return message === 'invalid agent secret' || message === 'agent context not found' ? 'auth_invalid' : message;
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Fails instead of waiting for ever on a promise that hangs (a start-up or a reload stuck on a FIFO). */
async function within<T>(promise: Promise<T>, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${label} hung`)), 20_000)));
  try {
    return await Promise.race([promise, guard]);
  } finally {
    clearTimeout(timer);
  }
}

/** The audit event of a relayed call, by tollgate's id of it. */
function eventOf(h: Harness, answer: Answer): Record<string, unknown> | undefined {
  const id = answer.headers['x-tollgate-request-id'];
  return h.events.find((event) => event.request_id === id && (event.type === 'response' || event.type === 'request'));
}

describe(`identity: the context directory rewritten under traffic (seed ${SEED})`, () => {
  const ids = ['a0', 'a1', 'a2', 'a3'];
  let h: Harness;
  before(async () => {
    h = await startHarness({ agents: Object.fromEntries(ids.map((id) => [id, { token: `${id}:v0-${id}` }])), env: { TOLLGATE_DEFAULT_MAX_OUTPUT_TOKENS: '10' } });
  });
  after(() => h.close());

  const dirOf = (id: string) => join(h.root, 'context', id);
  const metadataOf = (id: string) => join(dirOf(id), 'metadata.json');
  const write = (id: string, token: string) => {
    mkdirSync(dirOf(id), { recursive: true });
    const temp = join(dirOf(id), `.metadata.json.${process.pid}`);
    writeFileSync(temp, JSON.stringify({ token, pod: 'p', budget: { limit_usd: 100, window: '1h' } }));
    renameSync(temp, metadataOf(id));
  };
  const reload = () => within((h.tollgate.deps.agents as AgentRegistry).reload(), 'registry reload');

  it('authenticates every call against a whole good version, never as another agent, never 5xx', async () => {
    const random = seededRandom(SEED);
    /** Every secret that was the whole of a good version of the agent's file at some time. */
    const everGood = new Map(ids.map((id) => [id, new Set([`v0-${id}`])]));
    const current = new Map(ids.map((id) => [id, `v0-${id}`]));
    const deleted = new Set<string>();
    let version = 0;
    let writing = true;
    const failures: string[] = [];

    const writer = (async () => {
      for (let step = 0; step < 160; step++) {
        const id = pick(random, ids);
        const op = deleted.has(id) ? 'recreate' : pick(random, ['atomic', 'inplace', 'split', 'truncate', 'junk', 'invalid', 'foreign', 'delete', 'rename', 'empty-dir']);
        const secret = `v${++version}-${id}`;
        const good = () => {
          everGood.get(id)!.add(secret);
          current.set(id, secret);
        };
        switch (op) {
          case 'atomic':
          case 'recreate':
            good();
            write(id, `${id}:${secret}`);
            deleted.delete(id);
            break;
          case 'inplace':
            good();
            writeFileSync(metadataOf(id), JSON.stringify({ token: `${id}:${secret}` }));
            break;
          case 'split': { // truncated, then written in two pieces with a pause: readers see 0 bytes, then half a file
            good();
            const text = JSON.stringify({ token: `${id}:${secret}`, pod: 'p'.repeat(Math.floor(random() * 500)) });
            const cut = 1 + Math.floor(random() * (text.length - 2));
            writeFileSync(metadataOf(id), text.slice(0, cut));
            await sleep(Math.floor(random() * 4));
            writeFileSync(metadataOf(id), text);
            break;
          }
          case 'truncate':
            truncateSync(metadataOf(id), 0);
            break;
          case 'junk':
            writeFileSync(metadataOf(id), Buffer.from(Array.from({ length: 1 + Math.floor(random() * 300) }, () => Math.floor(random() * 256))));
            break;
          case 'invalid':
            writeFileSync(metadataOf(id), `{"token": "${id}:${secret}"`);
            break;
          case 'foreign': // a whole version that names another agent: nobody authenticates with it
            writeFileSync(metadataOf(id), JSON.stringify({ token: `${pick(random, ids.filter((other) => other !== id))}:${secret}` }));
            break;
          case 'delete':
            rmSync(dirOf(id), { recursive: true, force: true });
            deleted.add(id);
            break;
          case 'rename': // moved away and back: meanwhile `<id>-moved` holds a token naming <id>, which must not authenticate as either
            renameSync(dirOf(id), `${dirOf(id)}-moved`);
            await sleep(Math.floor(random() * 5));
            renameSync(`${dirOf(id)}-moved`, dirOf(id));
            break;
          case 'empty-dir': // deleted and re-created empty, then written
            rmSync(dirOf(id), { recursive: true, force: true });
            mkdirSync(dirOf(id));
            await sleep(Math.floor(random() * 3));
            good();
            writeFileSync(metadataOf(id), JSON.stringify({ token: `${id}:${secret}` }));
            break;
        }
        await sleep(Math.floor(random() * 6));
      }
      writing = false;
    })();

    const client = async (lane: number) => {
      const draw = seededRandom(SEED + lane);
      while (writing) {
        const id = pick(draw, ids);
        const other = pick(draw, ids.filter((x) => x !== id));
        const kind = pick(draw, ['current', 'older', 'never', 'other', 'moved']);
        const goods = [...everGood.get(id)!];
        const [agentId, secret] = kind === 'current' ? [id, current.get(id)!]
          : kind === 'older' ? [id, pick(draw, goods)]
          : kind === 'never' ? [id, `never-${Math.floor(draw() * 1e9)}`]
          : kind === 'other' ? [id, pick(draw, [...everGood.get(other)!])]
          : [`${id}-moved`, pick(draw, goods)];
        const path = draw() < 0.5 ? CHAT : MESSAGES;
        const answer = await call({ url: h.url, path, headers: draw() < 0.5 ? { authorization: `Bearer ${agentId}:${secret}` } : { 'x-api-key': `${agentId}:${secret}` } });
        const label = `${kind} ${agentId}:${secret} on ${path}`;
        if (answer.status === 200) {
          if (!everGood.get(agentId)?.has(secret)) failures.push(`${label}: 200 for a secret that was never a good version of the agent`);
          await waitFor(() => eventOf(h, answer) !== undefined, 'the audit event of the call');
          const event = eventOf(h, answer)!;
          if (event.claw_id !== agentId) failures.push(`${label}: authenticated as ${String(event.claw_id)}`);
        } else if (answer.status === 401) {
          const code = authError(answer, path);
          if (code !== 'auth_invalid') failures.push(`${label}: 401 ${code}`);
        } else {
          failures.push(`${label}: status ${answer.status} ${answer.text.slice(0, 200)}`);
        }
      }
    };
    await within(Promise.all([writer, client(1), client(2), client(3)]), 'churn');
    assert.deepEqual(failures, []);

    // settled: every agent still there gets a final whole version (one in five naming another agent, so nobody
    // authenticates with it), and the registry converges on it
    const usable = new Set<string>();
    for (const id of ids) {
      if (deleted.has(id)) continue;
      const secret = `final-${id}`;
      everGood.get(id)!.add(secret);
      if (random() < 0.8) {
        write(id, `${id}:${secret}`);
        usable.add(id);
      } else write(id, `${pick(random, ids.filter((other) => other !== id))}:${secret}`);
    }
    await reload();
    for (const id of ids) {
      for (const secret of everGood.get(id)!) {
        const path = random() < 0.5 ? CHAT : MESSAGES;
        const answer = await call({ url: h.url, path, headers: { authorization: `Bearer ${id}:${secret}` } });
        const expected = usable.has(id) && secret === `final-${id}` ? 200 : 401;
        assert.equal(answer.status, expected, `${id}:${secret} after the churn (deleted: ${deleted.has(id)}): ${answer.text.slice(0, 200)}`);
      }
    }
  });

  it('keeps the last good version of a file that stops being one (truncated, junk, half-written, oversized, a FIFO, a device, a loop), and forgets a deleted agent', async () => {
    const random = seededRandom(SEED + 7);
    const id = 'a0';
    const breakers: Record<string, () => void> = {
      truncated: () => truncateSync(metadataOf(id), 0),
      junk: () => writeFileSync(metadataOf(id), Buffer.from([0xff, 0x00, 0x7b, 0x22, 0xc3])),
      half: () => writeFileSync(metadataOf(id), JSON.stringify({ token: `${id}:half` }).slice(0, 9)),
      // a whole, valid file naming a new secret, but too large to be read: refused, not loaded
      oversized: () => writeFileSync(metadataOf(id), JSON.stringify({ token: `${id}:oversized`, pad: 'x'.repeat(2 * 1024 * 1024) })),
      fifo: () => {
        rmSync(metadataOf(id));
        execFileSync('mkfifo', [metadataOf(id)]);
      },
      device: () => {
        rmSync(metadataOf(id));
        symlinkSync('/dev/null', metadataOf(id));
      },
      loop: () => {
        rmSync(metadataOf(id));
        symlinkSync(metadataOf(id), metadataOf(id));
      },
      directory: () => {
        rmSync(metadataOf(id));
        mkdirSync(metadataOf(id));
      },
    };
    const names = Object.keys(breakers).sort(() => random() - 0.5);
    for (const name of names) {
      const secret = `good-before-${name}`;
      rmSync(dirOf(id), { recursive: true, force: true });
      write(id, `${id}:${secret}`);
      await reload();
      assert.equal((await call({ url: h.url, path: CHAT, headers: { authorization: `Bearer ${id}:${secret}` } })).status, 200, `${name}: the good version`);
      breakers[name]();
      await reload();
      for (const path of [CHAT, MESSAGES]) {
        const answer = await call({ url: h.url, path, headers: { authorization: `Bearer ${id}:${secret}` } });
        assert.equal(answer.status, 200, `${name}: the last good version stays in force: ${answer.text.slice(0, 300)}`);
        const refused = await call({ url: h.url, path, headers: { authorization: `Bearer ${id}:oversized` } });
        assert.equal(refused.status, 401, `${name}: nothing but the last good version authenticates`);
      }
      // and another agent keeps changing meanwhile: the scan is not stuck on this one
      const fresh = `fresh-${name}`;
      write('a1', `a1:${fresh}`);
      await reload();
      assert.equal((await call({ url: h.url, path: CHAT, headers: { authorization: `Bearer a1:${fresh}` } })).status, 200, `${name}: other agents still reload`);
    }
    rmSync(metadataOf(id), { recursive: true, force: true });
    await reload();
    const gone = await call({ url: h.url, path: MESSAGES, headers: { 'x-api-key': `${id}:good-before-${names.at(-1)}` } });
    assert.equal(gone.status, 401, 'a deleted metadata.json stops the agent authenticating');
    assert.equal(authError(gone, MESSAGES), 'auth_invalid');
  });
});

describe(`identity: a hostile context directory at start (seed ${SEED})`, () => {
  let h: Harness;
  let fake: FakeUpstream;
  let outside: string;
  const expectations: Array<{ agentId: string; secret: string; as: string | null; why: string }> = [];

  before(async () => {
    const random = seededRandom(SEED + 11);
    fake = await startFakeUpstream();
    const root = mkdtempSync(join(tmpdir(), 'tollgate-identity-'));
    outside = mkdtempSync(join(tmpdir(), 'tollgate-outside-'));
    const context = join(root, 'context');
    for (const dir of ['context', 'auth', 'history', 'governance']) mkdirSync(join(root, dir), { recursive: true });
    writeFileSync(join(root, 'auth', 'providers.json'), JSON.stringify({ providers: {
      openai: { base_url: `${fake.url}/v1`, api_key: 'sk-real-openai-key-123' },
      anthropic: { base_url: `${fake.url}/v1`, api_key: 'sk-ant-real-key-456', auth: 'x-api-key' },
    } }));
    const agent = (name: string, metadata: unknown) => {
      mkdirSync(join(context, name), { recursive: true });
      writeFileSync(join(context, name, 'metadata.json'), typeof metadata === 'string' || Buffer.isBuffer(metadata) ? metadata : JSON.stringify(metadata));
    };
    const hostile: Record<string, () => void> = {
      'a plain file named like an agent': () => writeFileSync(join(context, 'README'), 'not an agent'),
      'a directory symlink loop': () => {
        symlinkSync(join(context, 'loop-b'), join(context, 'loop-a'));
        symlinkSync(join(context, 'loop-a'), join(context, 'loop-b'));
        expectations.push({ agentId: 'loop-a', secret: 'x', as: null, why: 'a loop' });
      },
      'a metadata.json symlink loop': () => {
        mkdirSync(join(context, 'selfloop'));
        symlinkSync(join(context, 'selfloop', 'metadata.json'), join(context, 'selfloop', 'metadata.json'));
        expectations.push({ agentId: 'selfloop', secret: 'x', as: null, why: 'a loop' });
      },
      'a FIFO as metadata.json': () => {
        mkdirSync(join(context, 'fifo'));
        execFileSync('mkfifo', [join(context, 'fifo', 'metadata.json')]);
        expectations.push({ agentId: 'fifo', secret: 'x', as: null, why: 'a FIFO' });
      },
      'metadata.json linked to a device': () => {
        mkdirSync(join(context, 'device'));
        symlinkSync('/dev/null', join(context, 'device', 'metadata.json'));
        expectations.push({ agentId: 'device', secret: 'x', as: null, why: 'a device' });
      },
      'a huge metadata.json': () => {
        agent('huge', JSON.stringify({ token: 'huge:s', pad: 'x'.repeat(3 * 1024 * 1024) }));
        expectations.push({ agentId: 'huge', secret: 's', as: null, why: 'over the size limit' });
      },
      'binary junk': () => {
        agent('junk', Buffer.from(Array.from({ length: 4096 }, () => Math.floor(random() * 256))));
        expectations.push({ agentId: 'junk', secret: 's', as: null, why: 'junk' });
      },
      'odd directory names': () => {
        for (const name of ['a:b', 'ünï', 'has space', '_under', '.dot', '-dash']) {
          agent(name, { token: `${name}:s` });
          expectations.push({ agentId: name, secret: 's', as: null, why: `not a plain id (${name})` });
        }
      },
      'an agent directory linked from outside the root': () => {
        mkdirSync(join(outside, 'real'));
        writeFileSync(join(outside, 'real', 'metadata.json'), JSON.stringify({ token: 'linked:s' }));
        symlinkSync(join(outside, 'real'), join(context, 'linked'));
        expectations.push({ agentId: 'linked', secret: 's', as: 'linked', why: 'a linked directory is an agent' });
      },
      'a token naming another agent': () => {
        agent('thief', { token: 'victim:s' });
        agent('victim', { token: 'victim:v' });
        expectations.push({ agentId: 'thief', secret: 's', as: null, why: 'token names another agent' });
        expectations.push({ agentId: 'victim', secret: 's', as: null, why: 'the thief\'s token is not the victim\'s' });
        expectations.push({ agentId: 'victim', secret: 'v', as: 'victim', why: 'the victim' });
      },
      'duplicate tokens across agents': () => {
        agent('dup-1', { token: 'same-secret' });
        agent('dup-2', { token: 'same-secret' });
        expectations.push({ agentId: 'dup-1', secret: 'same-secret', as: 'dup-1', why: 'duplicates stay apart' });
        expectations.push({ agentId: 'dup-2', secret: 'same-secret', as: 'dup-2', why: 'duplicates stay apart' });
      },
    };
    for (const name of Object.keys(hostile).sort(() => random() - 0.5)) hostile[name]();
    const many = 500 + Math.floor(random() * 1500);
    for (let i = 0; i < many; i++) agent(`bulk-${i}`, { token: `bulk-${i}:s${i}` });
    for (let i = 0; i < 5; i++) {
      const n = Math.floor(random() * many);
      expectations.push({ agentId: `bulk-${n}`, secret: `s${n}`, as: `bulk-${n}`, why: `one of ${many} agents` });
      expectations.push({ agentId: `bulk-${n}`, secret: `s${(n + 1) % many}`, as: null, why: 'a neighbour\'s secret' });
    }
    h = await within(startHarness({ agents: {} }, { root, fake }), 'start-up with a hostile context dir');
  });
  after(async () => {
    await h?.close();
    rmSync(outside, { recursive: true, force: true });
  });

  it('starts, serves the good agents, refuses the rest with 401 in the caller\'s format', async () => {
    const random = seededRandom(SEED + 12);
    for (const expectation of expectations.sort(() => random() - 0.5)) {
      const path = random() < 0.5 ? CHAT : MESSAGES;
      const answer = await call({ url: h.url, path, headers: { authorization: `Bearer ${expectation.agentId}:${expectation.secret}` } });
      const label = `${expectation.agentId}:${expectation.secret} (${expectation.why}) on ${path}: ${answer.text.slice(0, 200)}`;
      if (expectation.as === null) {
        assert.equal(answer.status, 401, label);
        assert.equal(authError(answer, path), 'auth_invalid', label);
      } else {
        assert.equal(answer.status, 200, label);
        await waitFor(() => eventOf(h, answer) !== undefined, 'the audit event');
        assert.equal(eventOf(h, answer)!.claw_id, expectation.as, label);
      }
    }
  });
});

describe(`identity: mangled credentials (seed ${SEED})`, () => {
  let h: Harness;
  const secret = 'S3cret:with:colons';
  before(async () => {
    h = await startHarness({ agents: { agent: { token: `agent:${secret}` }, other: { token: 'other:o' } } });
  });
  after(() => h.close());

  /** The reference reading of the two headers (docs/errors.md, cllama's ParseBearer): the agent it names, or the error. */
  function expected(headers: { authorization?: string; apiKey?: string }): { as: string } | { code: 'auth_missing' | 'auth_invalid' } {
    const trim = (value: string | undefined) => (value ?? '').replace(/^[ \t]+|[ \t]+$/g, '');
    let header = trim(headers.authorization);
    if (!header) {
      const key = trim(headers.apiKey);
      if (!key) return { code: 'auth_missing' };
      header = `Bearer ${key}`;
    }
    const match = /^([^ ]*) (.*)$/s.exec(header);
    if (!match || match[1].toLowerCase() !== 'bearer') return { code: 'auth_missing' };
    const token = match[2].trim();
    const colon = token.indexOf(':');
    if (colon <= 0 || colon === token.length - 1) return { code: 'auth_missing' };
    const [agentId, presented] = [token.slice(0, colon), token.slice(colon + 1)];
    if (agentId === 'agent' && presented === secret) return { as: 'agent' };
    if (agentId === 'other' && presented === 'o') return { as: 'other' };
    return { code: 'auth_invalid' };
  }

  it('reads Authorization and x-api-key as documented: never a 5xx, never the wrong agent, the error in the route\'s format', async () => {
    const random = seededRandom(SEED + 21);
    const schemes = ['Bearer', 'bearer', 'BEARER', 'BeArEr', 'Basic', 'Token', ''];
    const spaces = [' ', '  ', '\t', ' \t'];
    const ids = ['agent', 'other', 'Agent', 'agent ', '../agent', 'agent/..', '', 'a:b', 'ünï'];
    const secrets = [secret, 'o', '', ' ', `${secret} `, `${secret}\t`, secret.toUpperCase(), secret.slice(0, -1), `${secret}x`, 'x'.repeat(6000), 'sécret', '\u00ff\u00fe'];
    const token = () => {
      const shape = random();
      if (shape < 0.1) return pick(random, ['', ':', 'agent', ':s', 'agent:']);
      return `${pick(random, ids)}:${pick(random, secrets)}`;
    };
    const valid = () => (random() < 0.5 ? `agent:${secret}` : 'other:o');
    for (let i = 0; i < 300; i++) {
      const headers: { authorization?: string; apiKey?: string } = {};
      const form = random();
      const first = random() < 0.4 ? valid() : token();
      if (form < 0.45 || form > 0.8) headers.authorization = `${pick(random, spaces.slice(0, 2))}${pick(random, schemes)}${pick(random, spaces)}${first}${random() < 0.2 ? pick(random, spaces) : ''}`;
      if (form >= 0.45) headers.apiKey = `${random() < 0.2 ? ' ' : ''}${random() < 0.5 ? valid() : token()}`;
      if (form > 0.9) headers.authorization = pick(random, ['', ' ', '\t']);
      const sent: Record<string, string> = {};
      if (headers.authorization !== undefined) sent.authorization = headers.authorization;
      if (headers.apiKey !== undefined) sent['x-api-key'] = headers.apiKey;
      const path = random() < 0.5 ? CHAT : MESSAGES;
      const answer = await call({ url: h.url, path, headers: sent });
      const want = expected(headers);
      const label = `case ${i} ${JSON.stringify(sent).slice(0, 300)} on ${path}: ${answer.status} ${answer.text.slice(0, 200)}`;
      if ('as' in want) {
        assert.equal(answer.status, 200, label);
        await waitFor(() => eventOf(h, answer) !== undefined, 'the audit event');
        assert.equal(eventOf(h, answer)!.claw_id, want.as, label);
      } else {
        assert.equal(answer.status, 401, label);
        assert.equal(authError(answer, path), want.code, label);
        assert.equal(answer.headers['x-should-retry'], 'false', label);
      }
    }
  });
});

describe(`identity: the provider key never leaves tollgate (seed ${SEED})`, () => {
  const KEY = 'zq7-provider-key-material-0123456789'; // not shaped like a known key: only tollgate's own masking can hide it
  let upstream: Server;
  let proxy: RunningProxy;
  let root: string;
  let uiPort: number;
  let mode = '';

  before(async () => {
    upstream = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const json = (status: number, body: unknown, headers: Record<string, string | string[]> = {}) => {
          res.writeHead(status, { 'content-type': 'application/json', ...headers });
          res.end(JSON.stringify(body));
        };
        switch (mode) {
          case 'json-error': return json(401, { error: { message: `Incorrect API key provided: ${KEY}`, type: 'invalid_request_error', code: 'invalid_api_key' } });
          case 'text-error': res.writeHead(403, { 'content-type': 'text/plain' }); return res.end(`forbidden: ${KEY}`);
          case 'www-authenticate': return json(401, { error: { message: 'no' } }, { 'www-authenticate': `Bearer realm="api", error="invalid_token", token="${KEY}"` });
          case 'echo-headers': return json(429, { error: { message: 'slow down' } }, { 'x-debug-key': KEY, 'set-cookie': [`a=${KEY}`, 'b=1'] });
          case 'redirect-path': res.writeHead(307, { location: `https://elsewhere.example/${KEY}/v1/chat/completions` }); return res.end('moved');
          case 'redirect-host': res.writeHead(302, { location: `https://${KEY.toUpperCase()}.example/v1` }); return res.end('moved');
          case 'redirect-credentials': res.writeHead(301, { location: `https://user:${KEY}@elsewhere.example/v1` }); return res.end('moved');
          case 'redirect-query': res.writeHead(308, { location: `/v1/chat/completions?key=${KEY}` }); return res.end('moved');
          default: return json(500, { error: { message: `unknown mode ${mode}` } });
        }
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    root = mkdtempSync(join(tmpdir(), 'tollgate-keys-'));
    for (const dir of ['context/a', 'auth', 'history']) mkdirSync(join(root, dir), { recursive: true });
    writeFileSync(join(root, 'context', 'a', 'metadata.json'), JSON.stringify({ token: 'a:s' }));
    writeFileSync(join(root, 'auth', 'providers.json'), JSON.stringify({ version: 2, providers: {
      openai: { base_url: `${upstreamUrl}/v1`, keys: [{ id: 'k1', secret: KEY }] },
      anthropic: { base_url: `${upstreamUrl}/v1`, auth: 'x-api-key', keys: [{ id: 'k2', secret: KEY }] },
    } }));
    uiPort = await freePort();
    proxy = await startProxyProcess({
      port: await freePort(),
      env: { CLAW_CONTEXT_ROOT: join(root, 'context'), CLAW_AUTH_DIR: join(root, 'auth'), CLAW_SESSION_HISTORY_DIR: join(root, 'history'), UI_ADDR: `127.0.0.1:${uiPort}` },
    });
  });
  after(async () => {
    await proxy?.stop();
    upstream?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('masks it in what an upstream sends back: bodies read whole, headers, a redirect\'s target; and it is in no log, event, history or metric', async () => {
    const random = seededRandom(SEED + 31);
    const plan = (modes: string[]) => modes.flatMap((m) => [CHAT, MESSAGES].map((path) => ({ mode: m, path, stream: random() < 0.5 }))).sort(() => random() - 0.5); // redirects first: a 401/403/429 takes the only key out (docs/providers.md)
    const calls = [...plan(['redirect-path', 'redirect-host', 'redirect-credentials', 'redirect-query']), ...plan(['json-error', 'text-error', 'www-authenticate', 'echo-headers'])];
    for (const planned of calls) {
      mode = planned.mode;
      const body = JSON.stringify({ model: planned.path === CHAT ? 'openai/gpt-4o' : 'claude-x', max_tokens: 5, stream: planned.stream, messages: [{ role: 'user', content: 'hi' }] });
      const answer = await call({ url: proxy.url, path: planned.path, headers: { authorization: 'Bearer a:s' }, body });
      const label = `${planned.mode} on ${planned.path}${planned.stream ? ' (stream)' : ''}`;
      assert.ok(answer.status >= 300 && answer.status < 600, label);
      assert.ok(!answer.text.toLowerCase().includes(KEY.toLowerCase()), `${label}: the key in the body: ${answer.text}`);
      assert.ok(!JSON.stringify(answer.headers).toLowerCase().includes(KEY.toLowerCase()), `${label}: the key in a header: ${JSON.stringify(answer.headers)}`);
      if (planned.mode.startsWith('redirect')) assert.equal(errorCode(answer, planned.path), 'upstream_redirect', label);
    }
    const metrics = await (await fetch(`http://127.0.0.1:${uiPort}/metrics`)).text();
    const historyFile = join(root, 'history', 'a', 'history.jsonl');
    await waitFor(() => proxy.stdout().split('\n').filter((line) => line.includes('"type":"error"') || line.includes('"type":"response"')).length >= calls.length, 'an audit line per call');
    const outputs = { audit: proxy.stdout(), log: proxy.stderr(), metrics, history: existsSync(historyFile) ? readFileSync(historyFile, 'utf8') : '' };
    for (const [name, text] of Object.entries(outputs)) assert.ok(!text.toLowerCase().includes(KEY.toLowerCase()), `the key in the ${name}`);
  });
});
