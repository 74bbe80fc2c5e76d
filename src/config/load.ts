// loadConfig: reads the cllama environment contract (and providers.json) once at start and returns a validated, frozen Config.
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Provider } from '../upstream/provider.ts';
import type { Config, LedgerConfig, ListenAddress } from './config.ts';
import { ConfigError } from './config-error.ts';
import { envValue, isUrlWithProtocol, lenientPositiveInt, parseListenAddress, strictPositiveInt, type Env, type Problems } from './env-values.ts';
import { intakeLimits } from './intake.ts';
import { loadProviders } from './providers.ts';
import { adapterSettingsFromEnv } from '../protocol/chat-responses/settings.ts';
import { DEFAULT_MAX_JSON_DEPTH, HISTORY_LINE_MAX_DEPTH, MAX_JSON_DEPTH_SETTING } from '../protocol/json-depth.ts';

export { ConfigError } from './config-error.ts';

export interface LoadConfigOptions {
  readonly env: Env;
  /** Base for relative paths and for the local `.tollgate/` fallback. */
  readonly cwd: string;
  /** Where the container mounts live (default `/claw`); tests point it elsewhere. */
  readonly clawRoot?: string;
  /** Clock for providers.json key cooldowns (tests). */
  readonly now?: Date;
  /** Create the local `.tollgate/` fallback directories (default true); `tollgate validate` only checks, it writes nothing. */
  readonly createLocalDirs?: boolean;
}

/** Throws ConfigError listing every problem at once, each naming its variable, or its file and field. */
export function loadConfig(options: LoadConfigOptions): Config {
  const { env, cwd } = options;
  const clawRoot = options.clawRoot ?? '/claw';
  const report: Problems = { problems: [], notices: [] };
  const create = options.createLocalDirs ?? true;

  const listen = parseListenAddress({ env, name: 'LISTEN_ADDR', fallback: ':8080', report });
  const ui = parseListenAddress({ env, name: 'UI_ADDR', fallback: ':8081', report });
  if (listen.port !== 0 && listen.port === ui.port && hostsOverlap(listen, ui)) {
    report.problems.push(`UI_ADDR: uses the same port as LISTEN_ADDR (${ui.port})`);
  }
  const contextRoot = mountedDir({ env, cwd, report, create, name: 'CLAW_CONTEXT_ROOT', mounted: join(clawRoot, 'context'), local: 'context' });
  const authDir = mountedDir({ env, cwd, report, create, name: 'CLAW_AUTH_DIR', mounted: join(clawRoot, 'auth'), local: 'auth' });
  const historyDir = historyDirectory({ env, cwd, clawRoot, report, create });
  const governance = envValue(env, 'CLAW_GOVERNANCE_DIR');
  const dataDir = envValue(env, 'TOLLGATE_DATA_DIR');

  let providers: Provider[] = [];
  try {
    providers = loadProviders({ authDir, env, now: options.now });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    report.problems.push(...error.problems);
  }

  const maxBodyBytes = strictPositiveInt({ env, name: 'TOLLGATE_MAX_BODY_BYTES', fallback: 33_554_432, report });
  const config: Config = {
    listen,
    ui,
    contextRoot,
    authDir,
    governanceDir: governance ? resolve(cwd, governance) : null,
    historyDir,
    historyMaxBytes: lenientPositiveInt({ env, name: 'CLLAMA_SESSION_HISTORY_MAX_BYTES', fallback: 268_435_456, report }),
    historyMaxOpenFiles: strictPositiveInt({ env, name: 'TOLLGATE_HISTORY_MAX_OPEN_FILES', fallback: 256, report }),
    // Agent ids cannot start with `_`, so `_ledger` never collides with an agent's history folder.
    dataDir: dataDir ? resolve(cwd, dataDir) : join(historyDir, '_ledger'),
    pod: envValue(env, 'CLAW_POD') ?? '',
    uiToken: envValue(env, 'CLLAMA_UI_TOKEN') ?? null,
    uiOpen: uiOpen({ env, report }),
    uiHosts: (envValue(env, 'TOLLGATE_UI_HOSTS') ?? '')
      .split(',')
      .map((name) => name.trim().toLowerCase())
      .filter((name) => name !== ''),
    budgetFailMode: envValue(env, 'CLLAMA_BUDGET_FAIL_MODE')?.toLowerCase() === 'closed' ? 'closed' : 'open',
    ledger: ledgerConfig({ env, report }),
    maxBodyBytes,
    maxJsonDepth: maxJsonDepth({ env, report }),
    maxResponseBytes: strictPositiveInt({ env, name: 'TOLLGATE_MAX_RESPONSE_BYTES', fallback: 67_108_864, report }),
    timeouts: {
      shutdownGraceMs: strictPositiveInt({ env, name: 'TOLLGATE_SHUTDOWN_GRACE_MS', fallback: 10_000, report }),
      requestMs: strictPositiveInt({ env, name: 'TOLLGATE_REQUEST_TIMEOUT_MS', fallback: 300_000, report }),
      connectMs: strictPositiveInt({ env, name: 'TOLLGATE_CONNECT_TIMEOUT_MS', fallback: 10_000, report }),
      dispatchMs: lenientPositiveInt({ env, name: 'CLLAMA_DISPATCH_CANDIDATE_TIMEOUT_MS', fallback: 60_000, report }),
      firstByteMs: lenientPositiveInt({ env, name: 'CLLAMA_STREAM_FIRST_BYTE_TIMEOUT_MS', fallback: 300_000, report }),
      idleMs: lenientPositiveInt({ env, name: 'CLLAMA_STREAM_IDLE_TIMEOUT_MS', fallback: 120_000, report }),
      upstreamIdleMs: strictPositiveInt({ env, name: 'TOLLGATE_UPSTREAM_IDLE_TIMEOUT_MS', fallback: 30_000, report }),
    },
    circuits: {
      failures: strictPositiveInt({ env, name: 'TOLLGATE_CIRCUIT_FAILURES', fallback: 5, report }),
      windowMs: strictPositiveInt({ env, name: 'TOLLGATE_CIRCUIT_WINDOW_MS', fallback: 30_000, report }),
      coolOffMs: strictPositiveInt({ env, name: 'TOLLGATE_CIRCUIT_COOL_OFF_MS', fallback: 30_000, report }),
    },
    intake: intakeLimits({ env, report, maxBodyBytes }),
    upstreamConnections:
      envValue(env, 'TOLLGATE_UPSTREAM_CONNECTIONS') === undefined
        ? null
        : strictPositiveInt({ env, name: 'TOLLGATE_UPSTREAM_CONNECTIONS', fallback: 1, report }),
    defaultMaxOutputTokens: strictPositiveInt({ env, name: 'TOLLGATE_DEFAULT_MAX_OUTPUT_TOKENS', fallback: 4096, report }),
    pricesFile: pricesFile({ env, cwd, report }),
    alertWebhookUrl: alertWebhookUrl({ env, report }),
    keyRecheckMs: strictPositiveInt({ env, name: 'TOLLGATE_KEY_RECHECK_MS', fallback: 60_000, report }),
    providers,
    responsesAdapter: adapterSettingsFromEnv(env),
    notices: report.notices,
  };
  if (report.problems.length > 0) throw new ConfigError(report.problems);
  return deepFreeze(config);
}

/**
 * CLAW_CONTEXT_ROOT / CLAW_AUTH_DIR: the variable, else the container mount when it exists, else (a newcomer's laptop)
 * `<cwd>/.tollgate/<local>`, created and announced in a notice.
 */
function mountedDir(options: { env: Env; cwd: string; report: Problems; create: boolean; name: string; mounted: string; local: string }): string {
  const { env, cwd, report, name, mounted } = options;
  const value = envValue(env, name);
  if (value) {
    const dir = resolve(cwd, value);
    if (!existsSync(dir)) report.notices.push(`${name}=${dir} does not exist yet`);
    return dir;
  }
  if (existsSync(mounted)) return mounted;
  const local = join(cwd, '.tollgate', options.local);
  if (ensureDir({ dir: local, name, report, create: options.create })) report.notices.push(`${name} is unset and ${mounted} does not exist: using ${local}`);
  return local;
}

/**
 * Difference from cllama: cllama has no default history dir and then disables history (and budgets). tollgate always
 * records, because the history is the durable record budgets are rebuilt from.
 */
function historyDirectory(options: { env: Env; cwd: string; clawRoot: string; report: Problems; create: boolean }): string {
  const { env, cwd, clawRoot, report } = options;
  const value = envValue(env, 'CLAW_SESSION_HISTORY_DIR');
  if (value) return resolve(cwd, value);
  if (existsSync(clawRoot)) {
    const dir = join(clawRoot, 'session-history');
    report.notices.push(
      `CLAW_SESSION_HISTORY_DIR is unset: recording session history in ${dir} (cllama would disable history; tollgate rebuilds budgets from it)`,
    );
    return dir;
  }
  const local = join(cwd, '.tollgate', 'history');
  if (ensureDir({ dir: local, name: 'CLAW_SESSION_HISTORY_DIR', report, create: options.create })) {
    report.notices.push(`CLAW_SESSION_HISTORY_DIR is unset and ${clawRoot} does not exist: recording session history in ${local}`);
  }
  return local;
}

function ensureDir(options: { dir: string; name: string; report: Problems; create: boolean }): boolean {
  if (!options.create) return true; // a check only: the directory is made by `serve`
  try {
    mkdirSync(options.dir, { recursive: true });
    return true;
  } catch (error) {
    options.report.problems.push(
      `${options.name}: unset, and the local fallback ${options.dir} cannot be created (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
    return false;
  }
}

function ledgerConfig(options: { env: Env; report: Problems }): LedgerConfig {
  const { env, report } = options;
  const kind = envValue(env, 'TOLLGATE_LEDGER')?.toLowerCase() ?? 'memory';
  if (kind === 'memory') return { kind: 'memory' };
  if (kind === 'redis') {
    const given = envValue(env, 'REDIS_URL') ?? 'redis://127.0.0.1:6379';
    const keyPrefix = envValue(env, 'TOLLGATE_REDIS_PREFIX') ?? 'tollgate';
    if (!/^[\w.-]+$/.test(keyPrefix)) report.problems.push('TOLLGATE_REDIS_PREFIX: may hold letters, digits, "_", "-" and "." only');
    // a Redis Cluster: redis+cluster://[cred@]host:port,host:port (seed nodes); the URL may carry a password: never echo it
    const cluster = /^(rediss?)\+cluster:\/\/((?:[^@/]*@)?[^/@]+)$/.exec(given);
    if (cluster) return { kind: 'redis', url: `${cluster[1]}://${cluster[2]}`, keyPrefix, cluster: true };
    if (!isUrlWithProtocol(given, ['redis:', 'rediss:'])) report.problems.push('REDIS_URL: must be a redis:// or rediss:// URL');
    return { kind: 'redis', url: given, keyPrefix, cluster: false };
  }
  report.problems.push(`TOLLGATE_LEDGER: must be "memory" or "redis", got "${kind}"`);
  return { kind: 'memory' };
}

function uiOpen(options: { env: Env; report: Problems }): boolean {
  const value = envValue(options.env, 'TOLLGATE_UI_OPEN')?.toLowerCase();
  if (value === undefined || value === '0' || value === 'false') return false;
  if (value === '1' || value === 'true') return true;
  options.report.problems.push(`TOLLGATE_UI_OPEN: must be 1 or 0, got "${value}"`);
  return false;
}

function maxJsonDepth(options: { env: Env; report: Problems }): number {
  const value = strictPositiveInt({ env: options.env, name: 'TOLLGATE_MAX_JSON_DEPTH', fallback: DEFAULT_MAX_JSON_DEPTH, report: options.report });
  if (value <= MAX_JSON_DEPTH_SETTING) return value;
  options.report.problems.push(
    `TOLLGATE_MAX_JSON_DEPTH: at most ${MAX_JSON_DEPTH_SETTING} (history lines hold the body 2 levels deeper and readers skip lines past ${HISTORY_LINE_MAX_DEPTH}), got ${value}`,
  );
  return DEFAULT_MAX_JSON_DEPTH;
}

function pricesFile(options: { env: Env; cwd: string; report: Problems }): string | null {
  const value = envValue(options.env, 'TOLLGATE_PRICES_FILE');
  if (!value) return null;
  const file = resolve(options.cwd, value);
  if (!existsSync(file)) options.report.problems.push(`TOLLGATE_PRICES_FILE: ${file} does not exist`);
  return file;
}

function alertWebhookUrl(options: { env: Env; report: Problems }): string | null {
  const value = envValue(options.env, 'TOLLGATE_ALERT_WEBHOOK_URL');
  if (!value) return null;
  // Webhook URLs often embed a token: never echo the value.
  if (!isUrlWithProtocol(value, ['http:', 'https:'])) options.report.problems.push('TOLLGATE_ALERT_WEBHOOK_URL: must be an http:// or https:// URL');
  return value;
}

function hostsOverlap(a: ListenAddress, b: ListenAddress): boolean {
  const wildcard = (host: string) => host === '0.0.0.0' || host === '::';
  return a.host === b.host || wildcard(a.host) || wildcard(b.host);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
