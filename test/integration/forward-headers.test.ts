// The operator decides which agent headers reach a provider: per-provider allow lists (providers.json, env) with a
// default that lets no billing or credential header through, and transport headers never forwarded.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/config/config-error.ts';
import { loadProviders } from '../../src/config/providers.ts';
import { startHarness, type Harness } from '../helpers/harness.ts';

/** What tollgate itself puts on every upstream request (undici adds host and connection). */
const TOLLGATE_SET = ['host', 'connection', 'content-type', 'content-length', 'accept-encoding'];

/** Headers a hostile agent sends along with its call: billing, credentials, transport, and its own. */
const AGENT_HEADERS: Record<string, string> = {
  'openai-organization': 'org-the-agent-picked',
  'openai-project': 'proj-the-agent-picked',
  'api-key': 'azure-key-of-the-agent',
  'x-goog-api-key': 'google-key-of-the-agent',
  'anthropic-beta': 'context-1m-2025-08-07',
  'anthropic-version': '2023-06-01',
  'x-stainless-os': 'Linux',
  'x-custom': 'agent-value',
  'keep-alive': 'timeout=600',
  te: 'trailers',
  trailer: 'x-late',
  'proxy-authorization': 'Basic Zm9vOmJhcg==',
  'proxy-connection': 'keep-alive',
  connection: 'keep-alive, x-stainless-os',
  cookie: 'session=agent',
  'x-claw-consumer-session-epoch': '7',
};

/** POSTs with exactly these headers (node:http: nothing forbidden as in fetch), the body sent chunked. */
function postWithHeaders(input: {
  url: string;
  path: string;
  token: string;
  auth: 'bearer' | 'x-api-key';
  body: unknown;
  headers: Record<string, string>;
}): Promise<number> {
  const target = new URL(`${input.url}${input.path}`);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        headers: {
          ...input.headers,
          'content-type': 'application/json',
          ...(input.auth === 'bearer' ? { authorization: `Bearer ${input.token}` } : { 'x-api-key': input.token }),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.write(JSON.stringify(input.body)); // chunked: tollgate sends its own content-length
    req.end();
  });
}

const OPENAI_BODY = { model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }] };
const ANTHROPIC_BODY = { model: 'anthropic/claude-sonnet-4-20250514', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] };

/** The agent-controlled headers the upstream got: everything but what tollgate sets and the provider credential. */
function forwarded(h: Harness): Record<string, unknown> {
  const { headers } = h.fake.requests.at(-1)!;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!TOLLGATE_SET.includes(name) && name !== 'authorization' && name !== 'x-api-key') out[name] = value;
  }
  return out;
}

describe('forwarded headers follow the allow list', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({
      agents: { a: {} },
      providerFields: {
        openai: { forward_headers: undefined },
        anthropic: { forward_headers: undefined },
        openrouter: { forward_headers: ['OpenAI-Organization', 'x-stainless-*', 'x-custom'] },
      },
    });
  });
  after(() => h.close());

  it('by default only anthropic-version and anthropic-beta pass, on the OpenAI route too', async () => {
    assert.equal(
      await postWithHeaders({ url: h.url, path: '/v1/chat/completions', token: h.token('a'), auth: 'bearer', body: OPENAI_BODY, headers: AGENT_HEADERS }),
      200,
    );
    assert.deepEqual(forwarded(h), { 'anthropic-beta': 'context-1m-2025-08-07', 'anthropic-version': '2023-06-01' });
    const { headers } = h.fake.requests.at(-1)!;
    assert.equal(headers.authorization, 'Bearer sk-real-openai-key-123');
    assert.equal(headers['x-api-key'], undefined);
    assert.equal(headers['accept-encoding'], 'identity');
  });

  it('the Anthropic route, the agent authenticated by x-api-key: its token never goes upstream, the provider key does', async () => {
    assert.equal(
      await postWithHeaders({ url: h.url, path: '/v1/messages', token: h.token('a'), auth: 'x-api-key', body: ANTHROPIC_BODY, headers: AGENT_HEADERS }),
      200,
    );
    assert.deepEqual(forwarded(h), { 'anthropic-beta': 'context-1m-2025-08-07', 'anthropic-version': '2023-06-01' });
    const { headers } = h.fake.requests.at(-1)!;
    assert.equal(headers['x-api-key'], 'sk-ant-real-key-456');
    assert.equal(headers.authorization, undefined);
  });

  it('a provider with forward_headers in providers.json gets exactly those (names case-insensitive, prefixes with *), never a header Connection names', async () => {
    assert.equal(
      await postWithHeaders({
        url: h.url,
        path: '/v1/chat/completions',
        token: h.token('a'),
        auth: 'bearer',
        body: { ...OPENAI_BODY, model: 'openrouter/some/model' },
        headers: { ...AGENT_HEADERS, 'x-stainless-lang': 'js' },
      }),
      200,
    );
    // x-stainless-os is listed by the agent's Connection header: hop-by-hop, so dropped though the list allows x-stainless-*
    assert.deepEqual(forwarded(h), { 'openai-organization': 'org-the-agent-picked', 'x-stainless-lang': 'js', 'x-custom': 'agent-value' });
  });
});

describe('TOLLGATE_FORWARD_HEADERS sets the list of providers that name none', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({
      agents: { a: {} },
      env: { TOLLGATE_FORWARD_HEADERS: 'openai-project, anthropic-version' },
      providerFields: { openai: { forward_headers: undefined } },
    });
  });
  after(() => h.close());

  it('only the listed headers pass', async () => {
    assert.equal(
      await postWithHeaders({ url: h.url, path: '/v1/chat/completions', token: h.token('a'), auth: 'bearer', body: OPENAI_BODY, headers: AGENT_HEADERS }),
      200,
    );
    assert.deepEqual(forwarded(h), { 'openai-project': 'proj-the-agent-picked', 'anthropic-version': '2023-06-01' });
  });
});

describe('an allow list that would forward a credential or transport header stops start-up', () => {
  function problemsOf(input: { file?: unknown; env?: Record<string, string> }): string {
    const authDir = mkdtempSync(join(tmpdir(), 'tollgate-forward-'));
    try {
      if (input.file !== undefined) writeFileSync(join(authDir, 'providers.json'), JSON.stringify(input.file));
      loadProviders({ authDir, env: { OPENAI_API_KEY: 'sk-test', ...input.env } });
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.problems.join('\n');
    } finally {
      rmSync(authDir, { recursive: true, force: true });
    }
    return assert.fail('expected a ConfigError');
  }

  it('names the provider, field and header, or the variable', () => {
    const text = problemsOf({
      file: { providers: { openai: { api_key: 'sk-x', forward_headers: ['authorization', 'Transfer-Encoding', 'x ok', 'proxy-foo'] } } },
    });
    assert.match(text, /providers\.openai\.forward_headers: "authorization" is never forwarded/);
    assert.match(text, /"transfer-encoding" is never forwarded/);
    assert.match(text, /"proxy-foo" is never forwarded/);
    assert.match(text, /"x ok" is not a header name/);
    assert.match(
      problemsOf({ file: { providers: { openai: { api_key: 'sk-x', forward_headers: 'openai-project' } } } }),
      /forward_headers: must be an array of header names/,
    );
    assert.match(problemsOf({ env: { TOLLGATE_FORWARD_HEADERS: 'x-api-key' } }), /TOLLGATE_FORWARD_HEADERS: "x-api-key" is never forwarded/);
  });
});
