// Identity from hostile input: a hostile context directory at start-up, and mangled Authorization and x-api-key headers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.ts';
import { seededRandom } from '../helpers/random.ts';
import { waitFor } from '../helpers/wait.ts';
import { authError, call, CHAT, eventOf, MESSAGES, pick, SEED, within } from './identity-setup.ts';

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
    writeFileSync(
      join(root, 'auth', 'providers.json'),
      JSON.stringify({
        providers: {
          openai: { base_url: `${fake.url}/v1`, api_key: 'sk-real-openai-key-123' },
          anthropic: { base_url: `${fake.url}/v1`, api_key: 'sk-ant-real-key-456', auth: 'x-api-key' },
        },
      }),
    );
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
        expectations.push({ agentId: 'victim', secret: 's', as: null, why: "the thief's token is not the victim's" });
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
      expectations.push({ agentId: `bulk-${n}`, secret: `s${(n + 1) % many}`, as: null, why: "a neighbour's secret" });
    }
    h = await within(startHarness({ agents: {} }, { root, fake }), 'start-up with a hostile context dir');
  });
  after(async () => {
    await h?.close();
    rmSync(outside, { recursive: true, force: true });
  });

  it("starts, serves the good agents, refuses the rest with 401 in the caller's format", async () => {
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

  it("reads Authorization and x-api-key as documented: never a 5xx, never the wrong agent, the error in the route's format", async () => {
    const random = seededRandom(SEED + 21);
    const schemes = ['Bearer', 'bearer', 'BEARER', 'BeArEr', 'Basic', 'Token', ''];
    const spaces = [' ', '  ', '\t', ' \t'];
    const ids = ['agent', 'other', 'Agent', 'agent ', '../agent', 'agent/..', '', 'a:b', 'ünï'];
    const secrets = [
      secret,
      'o',
      '',
      ' ',
      `${secret} `,
      `${secret}\t`,
      secret.toUpperCase(),
      secret.slice(0, -1),
      `${secret}x`,
      'x'.repeat(6000),
      'sécret',
      '\u00ff\u00fe',
    ];
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
      if (form < 0.45 || form > 0.8)
        headers.authorization = `${pick(random, spaces.slice(0, 2))}${pick(random, schemes)}${pick(random, spaces)}${first}${random() < 0.2 ? pick(random, spaces) : ''}`;
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
