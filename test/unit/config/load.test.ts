import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../../src/config/load.ts';

async function withDir(run: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-config-'));
  try {
    await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    assert.equal(error.message, error.problems.map((p) => `- ${p}`).join('\n'));
    return [...error.problems];
  }
  assert.fail('expected a ConfigError');
}

test('defaults on a newcomer laptop: local .tollgate folders, created and announced', () =>
  withDir((cwd) => {
    const config = loadConfig({ env: {}, cwd, clawRoot: join(cwd, 'no-claw') });
    assert.deepEqual(config.listen, { host: '0.0.0.0', port: 8080 });
    assert.deepEqual(config.ui, { host: '0.0.0.0', port: 8081 });
    assert.equal(config.contextRoot, join(cwd, '.tollgate', 'context'));
    assert.equal(config.authDir, join(cwd, '.tollgate', 'auth'));
    assert.equal(config.historyDir, join(cwd, '.tollgate', 'history'));
    assert.equal(config.dataDir, join(cwd, '.tollgate', 'history', '_ledger'));
    for (const dir of [config.contextRoot, config.authDir, config.historyDir]) assert.ok(existsSync(dir), dir);
    assert.equal(config.governanceDir, null);
    assert.equal(config.pod, '');
    assert.equal(config.uiToken, null);
    assert.equal(config.budgetFailMode, 'open');
    assert.equal(config.historyMaxBytes, 268_435_456);
    assert.equal(config.historyMaxOpenFiles, 256);
    assert.equal(config.upstreamConnections, null, 'no per-origin connection cap of our own');
    assert.deepEqual(config.ledger, { kind: 'memory' });
    assert.equal(config.maxBodyBytes, 33_554_432);
    assert.deepEqual(config.intake, { maxBytesInFlight: 268_435_456, maxAgentBytesInFlight: 67_108_864, bodyTimeoutMs: 30_000, maxConnections: 2048 });
    assert.deepEqual(config.timeouts, {
      shutdownGraceMs: 10_000,
      requestMs: 300_000,
      connectMs: 10_000,
      dispatchMs: 60_000,
      firstByteMs: 300_000,
      idleMs: 120_000,
      upstreamIdleMs: 30_000,
    });
    assert.equal(config.maxJsonDepth, 64);
    assert.equal(config.defaultMaxOutputTokens, 4096);
    assert.equal(config.pricesFile, null);
    assert.equal(config.alertWebhookUrl, null);
    assert.deepEqual(config.providers, []);
    assert.equal(config.notices.length, 3);
    assert.match(config.notices[0], /CLAW_CONTEXT_ROOT is unset and .*no-claw\/context does not exist: using .*\.tollgate\/context/);
    assert.match(config.notices[1], /CLAW_AUTH_DIR is unset/);
    assert.match(config.notices[2], /CLAW_SESSION_HISTORY_DIR is unset/);
  }));

test('container mounts are used when they exist; history goes under /claw/session-history', () =>
  withDir(async (cwd) => {
    const claw = join(cwd, 'claw');
    await mkdir(join(claw, 'context'), { recursive: true });
    await mkdir(join(claw, 'auth'), { recursive: true });
    const config = loadConfig({ env: {}, cwd, clawRoot: claw });
    assert.equal(config.contextRoot, join(claw, 'context'));
    assert.equal(config.authDir, join(claw, 'auth'));
    assert.equal(config.historyDir, join(claw, 'session-history'));
    assert.equal(config.notices.length, 1);
    assert.match(config.notices[0], /cllama would disable history/);
    assert.ok(!existsSync(join(cwd, '.tollgate')), 'no local fallback created');
  }));

test('every variable is read, relative paths resolve against cwd, and the result is deeply frozen', () =>
  withDir(async (cwd) => {
    await mkdir(join(cwd, 'ctx'));
    await mkdir(join(cwd, 'auth'));
    await writeFile(join(cwd, 'auth', 'providers.json'), JSON.stringify({ providers: { openai: { api_key: 'sk-1' } } }));
    await writeFile(join(cwd, 'prices.json'), '{}');
    const config = loadConfig({
      cwd,
      clawRoot: join(cwd, 'no-claw'),
      env: {
        LISTEN_ADDR: '127.0.0.1:0',
        UI_ADDR: '[::1]:9091',
        CLAW_CONTEXT_ROOT: 'ctx',
        CLAW_AUTH_DIR: join(cwd, 'auth'),
        CLAW_SESSION_HISTORY_DIR: 'hist',
        CLAW_GOVERNANCE_DIR: 'gov',
        CLAW_POD: ' pod-1 ',
        CLLAMA_UI_TOKEN: 'ui-secret',
        CLLAMA_BUDGET_FAIL_MODE: '  ClOsEd ',
        CLLAMA_SESSION_HISTORY_MAX_BYTES: '1024',
        CLLAMA_DISPATCH_CANDIDATE_TIMEOUT_MS: '1500',
        CLLAMA_STREAM_FIRST_BYTE_TIMEOUT_MS: '2500',
        CLLAMA_STREAM_IDLE_TIMEOUT_MS: '3500',
        TOLLGATE_CONNECT_TIMEOUT_MS: '250',
        TOLLGATE_SHUTDOWN_GRACE_MS: '4000',
        TOLLGATE_REQUEST_TIMEOUT_MS: '20000',
        TOLLGATE_MAX_BODY_BYTES: '1000',
        TOLLGATE_DATA_DIR: 'data',
        TOLLGATE_LEDGER: 'Redis',
        REDIS_URL: 'redis://:pw@10.0.0.1:6380/2',
        TOLLGATE_DEFAULT_MAX_OUTPUT_TOKENS: '512',
        TOLLGATE_PRICES_FILE: 'prices.json',
        TOLLGATE_ALERT_WEBHOOK_URL: 'https://hooks.example/x?token=abc',
        TOLLGATE_HISTORY_MAX_OPEN_FILES: '64',
        TOLLGATE_UPSTREAM_CONNECTIONS: '512',
        TOLLGATE_MAX_BYTES_IN_FLIGHT: '100000',
        TOLLGATE_MAX_AGENT_BYTES_IN_FLIGHT: '50000',
        TOLLGATE_BODY_TIMEOUT_MS: '7000',
        TOLLGATE_MAX_CONNECTIONS: '300',
        TOLLGATE_UPSTREAM_IDLE_TIMEOUT_MS: '5000',
        TOLLGATE_MAX_JSON_DEPTH: '100',
      },
    });
    assert.deepEqual(config.listen, { host: '127.0.0.1', port: 0 });
    assert.deepEqual(config.ui, { host: '::1', port: 9091 });
    assert.equal(config.contextRoot, join(cwd, 'ctx'));
    assert.equal(config.historyDir, join(cwd, 'hist'));
    assert.equal(config.governanceDir, join(cwd, 'gov'));
    assert.equal(config.dataDir, join(cwd, 'data'));
    assert.equal(config.pod, 'pod-1');
    assert.equal(config.uiToken, 'ui-secret');
    assert.equal(config.budgetFailMode, 'closed');
    assert.equal(config.historyMaxBytes, 1024);
    assert.equal(config.historyMaxOpenFiles, 64);
    assert.equal(config.upstreamConnections, 512);
    assert.deepEqual(config.timeouts, {
      shutdownGraceMs: 4000,
      requestMs: 20_000,
      connectMs: 250,
      dispatchMs: 1500,
      firstByteMs: 2500,
      idleMs: 3500,
      upstreamIdleMs: 5000,
    });
    assert.equal(config.maxBodyBytes, 1000);
    assert.deepEqual(config.intake, { maxBytesInFlight: 100_000, maxAgentBytesInFlight: 50_000, bodyTimeoutMs: 7000, maxConnections: 300 });
    assert.equal(config.maxJsonDepth, 100);
    assert.deepEqual(config.ledger, { kind: 'redis', url: 'redis://:pw@10.0.0.1:6380/2', keyPrefix: 'tollgate', cluster: false });
    assert.equal(config.defaultMaxOutputTokens, 512);
    assert.equal(config.pricesFile, join(cwd, 'prices.json'));
    assert.equal(config.alertWebhookUrl, 'https://hooks.example/x?token=abc');
    assert.deepEqual(
      config.providers.map((p) => p.name),
      ['openai'],
    );
    assert.deepEqual(config.notices, []);
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.timeouts) && Object.isFrozen(config.providers) && Object.isFrozen(config.providers[0].keys[0]));
    assert.throws(() => {
      (config as { pod: string }).pod = 'x';
    }, TypeError);
  }));

const failModes: Array<[string | undefined, 'open' | 'closed']> = [
  [undefined, 'open'],
  ['closed', 'closed'],
  [' CLOSED\n', 'closed'],
  ['open', 'open'],
  ['close', 'open'],
  ['', 'open'],
];
for (const [value, expected] of failModes) {
  test(`CLLAMA_BUDGET_FAIL_MODE=${JSON.stringify(value)} → ${expected}`, () =>
    withDir((cwd) => {
      assert.equal(loadConfig({ cwd, clawRoot: join(cwd, 'x'), env: { CLLAMA_BUDGET_FAIL_MODE: value } }).budgetFailMode, expected);
    }));
}

const lenient: Array<[string, string, (c: ReturnType<typeof loadConfig>) => number, number]> = [
  ['CLLAMA_SESSION_HISTORY_MAX_BYTES', '0', (c) => c.historyMaxBytes, 268_435_456],
  ['CLLAMA_SESSION_HISTORY_MAX_BYTES', '-5', (c) => c.historyMaxBytes, 268_435_456],
  ['CLLAMA_SESSION_HISTORY_MAX_BYTES', '1.5', (c) => c.historyMaxBytes, 268_435_456],
  ['CLLAMA_DISPATCH_CANDIDATE_TIMEOUT_MS', 'abc', (c) => c.timeouts.dispatchMs, 60_000],
  ['CLLAMA_STREAM_FIRST_BYTE_TIMEOUT_MS', '0', (c) => c.timeouts.firstByteMs, 300_000],
  ['CLLAMA_STREAM_IDLE_TIMEOUT_MS', '50ms', (c) => c.timeouts.idleMs, 120_000],
  ['CLLAMA_STREAM_IDLE_TIMEOUT_MS', ' 50 ', (c) => c.timeouts.idleMs, 50],
];
for (const [name, value, read, expected] of lenient) {
  test(`cllama knob ${name}=${JSON.stringify(value)} → ${expected} (invalid falls back with a notice, as cllama)`, () =>
    withDir((cwd) => {
      const config = loadConfig({
        cwd,
        clawRoot: join(cwd, 'x'),
        env: { [name]: value, CLAW_CONTEXT_ROOT: cwd, CLAW_AUTH_DIR: cwd, CLAW_SESSION_HISTORY_DIR: cwd },
      });
      assert.equal(read(config), expected);
      assert.equal(
        config.notices.some((n) => n.startsWith(`${name}=`)),
        expected !== Number(value.trim()),
      );
    }));
}

const invalid: Array<{ env: Record<string, string>; problem: string | RegExp }> = [
  { env: { LISTEN_ADDR: '8080' }, problem: 'LISTEN_ADDR: expected host:port or :port, got "8080" (did you mean ":8080"?)' },
  { env: { LISTEN_ADDR: ':http' }, problem: 'LISTEN_ADDR: port must be an integer from 0 to 65535, got "http"' },
  { env: { UI_ADDR: 'localhost:70000' }, problem: 'UI_ADDR: port must be an integer from 0 to 65535, got "70000"' },
  { env: { LISTEN_ADDR: ':9000', UI_ADDR: '127.0.0.1:9000' }, problem: 'UI_ADDR: uses the same port as LISTEN_ADDR (9000)' },
  { env: { TOLLGATE_LEDGER: 'postgres' }, problem: 'TOLLGATE_LEDGER: must be "memory" or "redis", got "postgres"' },
  { env: { TOLLGATE_LEDGER: 'redis', REDIS_URL: 'http://user:hunter2@host' }, problem: 'REDIS_URL: must be a redis:// or rediss:// URL' },
  { env: { TOLLGATE_ALERT_WEBHOOK_URL: 'ftp://hooks/secret-token' }, problem: 'TOLLGATE_ALERT_WEBHOOK_URL: must be an http:// or https:// URL' },
  { env: { TOLLGATE_ALERT_WEBHOOK_URL: 'not a url' }, problem: 'TOLLGATE_ALERT_WEBHOOK_URL: must be an http:// or https:// URL' },
  { env: { TOLLGATE_MAX_BODY_BYTES: '0' }, problem: 'TOLLGATE_MAX_BODY_BYTES: must be a positive integer, got "0"' },
  { env: { TOLLGATE_CONNECT_TIMEOUT_MS: '10s' }, problem: 'TOLLGATE_CONNECT_TIMEOUT_MS: must be a positive integer, got "10s"' },
  { env: { TOLLGATE_DEFAULT_MAX_OUTPUT_TOKENS: '-1' }, problem: 'TOLLGATE_DEFAULT_MAX_OUTPUT_TOKENS: must be a positive integer, got "-1"' },
  { env: { TOLLGATE_HISTORY_MAX_OPEN_FILES: '0' }, problem: 'TOLLGATE_HISTORY_MAX_OPEN_FILES: must be a positive integer, got "0"' },
  { env: { TOLLGATE_UPSTREAM_CONNECTIONS: 'many' }, problem: 'TOLLGATE_UPSTREAM_CONNECTIONS: must be a positive integer, got "many"' },
  { env: { TOLLGATE_MAX_CONNECTIONS: 'lots' }, problem: 'TOLLGATE_MAX_CONNECTIONS: must be a positive integer, got "lots"' },
  { env: { TOLLGATE_BODY_TIMEOUT_MS: '0' }, problem: 'TOLLGATE_BODY_TIMEOUT_MS: must be a positive integer, got "0"' },
  {
    env: { TOLLGATE_MAX_AGENT_BYTES_IN_FLIGHT: '300000000' },
    problem: "TOLLGATE_MAX_AGENT_BYTES_IN_FLIGHT: 300000000 is more than TOLLGATE_MAX_BYTES_IN_FLIGHT (268435456); one agent's share cannot exceed the whole",
  },
  {
    env: { TOLLGATE_MAX_BODY_BYTES: '70000000' },
    problem:
      'TOLLGATE_MAX_BODY_BYTES: 70000000 is more than TOLLGATE_MAX_AGENT_BYTES_IN_FLIGHT (67108864); a body that large could never be admitted: raise the share or lower the limit',
  },
  {
    env: { TOLLGATE_MAX_JSON_DEPTH: '513' },
    problem: 'TOLLGATE_MAX_JSON_DEPTH: at most 512 (history lines hold the body 2 levels deeper and readers skip lines past 1000), got 513',
  },
  { env: { TOLLGATE_UPSTREAM_IDLE_TIMEOUT_MS: '0' }, problem: 'TOLLGATE_UPSTREAM_IDLE_TIMEOUT_MS: must be a positive integer, got "0"' },
  { env: { TOLLGATE_PRICES_FILE: '/nonexistent/prices.json' }, problem: 'TOLLGATE_PRICES_FILE: /nonexistent/prices.json does not exist' },
];
for (const { env, problem } of invalid) {
  test(`ConfigError: ${JSON.stringify(env)}`, () =>
    withDir((cwd) => {
      const problems = problemsOf(() => loadConfig({ cwd, clawRoot: join(cwd, 'x'), env }));
      assert.deepEqual(problems, [problem]);
      assert.ok(!problems[0].includes('hunter2') && !problems[0].includes('secret-token'), 'no secret echoed');
    }));
}

test('all problems are reported at once, including providers.json fields', () =>
  withDir(async (cwd) => {
    await writeFile(join(cwd, 'providers.json'), JSON.stringify({ providers: { openai: { auth: 'magic' } } }));
    const problems = problemsOf(() =>
      loadConfig({
        cwd,
        clawRoot: join(cwd, 'x'),
        env: { CLAW_AUTH_DIR: cwd, LISTEN_ADDR: 'nope', TOLLGATE_LEDGER: 'sqlite', OPENROUTER_API_KEY: 'k', OPENROUTER_BASE_URL: 'x' },
      }),
    );
    assert.deepEqual(problems, [
      'LISTEN_ADDR: expected host:port or :port, got "nope"',
      `${join(cwd, 'providers.json')}: providers.openai.auth: must be one of "bearer", "x-api-key", "none", got "magic"`,
      'OPENROUTER_BASE_URL: must be an http:// or https:// URL',
      'TOLLGATE_LEDGER: must be "memory" or "redis", got "sqlite"',
    ]);
  }));

test('bytes in flight that would not fit in the heap when full are a notice at start', () =>
  withDir((cwd) => {
    const config = loadConfig({
      cwd,
      clawRoot: join(cwd, 'x'),
      env: { CLAW_CONTEXT_ROOT: cwd, CLAW_AUTH_DIR: cwd, CLAW_SESSION_HISTORY_DIR: cwd, TOLLGATE_MAX_BYTES_IN_FLIGHT: String(2 ** 40) },
    });
    assert.equal(config.notices.length, 1);
    assert.match(
      config.notices[0],
      /^TOLLGATE_MAX_BYTES_IN_FLIGHT=1099511627776 may cost up to \d+ MiB of heap when full, more than three quarters of this process's heap limit \(\d+ MiB\)/,
    );
  }));

test('a context root that does not exist yet is a notice, not an error', () =>
  withDir((cwd) => {
    const config = loadConfig({ cwd, clawRoot: join(cwd, 'x'), env: { CLAW_CONTEXT_ROOT: 'later', CLAW_AUTH_DIR: cwd, CLAW_SESSION_HISTORY_DIR: cwd } });
    assert.deepEqual(config.notices, [`CLAW_CONTEXT_ROOT=${join(cwd, 'later')} does not exist yet`]);
  }));

test('a redis+cluster:// URL names a Redis Cluster by its seed nodes, credentials kept, never echoed', () =>
  withDir((cwd) => {
    const env = {
      CLAW_AUTH_DIR: cwd,
      CLAW_SESSION_HISTORY_DIR: cwd,
      TOLLGATE_LEDGER: 'redis',
      REDIS_URL: 'rediss+cluster://:s3cret@10.0.0.1:7000,10.0.0.2:7001',
    };
    const config = loadConfig({ cwd, clawRoot: join(cwd, 'x'), env });
    assert.deepEqual(config.ledger, { kind: 'redis', url: 'rediss://:s3cret@10.0.0.1:7000,10.0.0.2:7001', keyPrefix: 'tollgate', cluster: true });
    const problems = problemsOf(() => loadConfig({ cwd, clawRoot: join(cwd, 'x'), env: { ...env, REDIS_URL: 'redis+cluster://:s3cret@h:1/0' } }));
    assert.deepEqual(problems, ['REDIS_URL: must be a redis:// or rediss:// URL']);
  }));
