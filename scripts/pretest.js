// The pre-test step of `npm test`: makes sure Redis, redis-server/redis-cli and Chromium are there, says so in one line each, fails fast.
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const DEBIAN_CHROMIUM = '/usr/bin/chromium';
const APT = 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq';
/** What a person runs when this machine cannot install for itself. */
const installHint = (pkg) => `\`apt-get update && apt-get install -y ${pkg}\` (as root)`;

/** Why installing is not possible here, or null when it is (root, apt-get on PATH, not forbidden). */
export function installBlocker({ env, uid, which }) {
  if (env.TOLLGATE_PRETEST_NO_INSTALL === '1') return 'installing is switched off (TOLLGATE_PRETEST_NO_INSTALL=1)';
  if (uid !== 0) return 'not root';
  if (!which('apt-get')) return 'no apt-get';
  return null;
}

/** Where to look for Chromium, in order: TOLLGATE_CHROMIUM (else Debian's path), then `chromium` on PATH. */
export function chromiumCandidates({ env, which }) {
  const first = env.TOLLGATE_CHROMIUM || DEBIAN_CHROMIUM;
  const onPath = which('chromium');
  return onPath && onPath !== first ? [first, onPath] : [first];
}

/** Decides what to do about Chromium: use a path, install Debian's package, or fail with one line. */
export function chromiumPlan({ env, found, blocker }) {
  const wanted = env.TOLLGATE_CHROMIUM ? `TOLLGATE_CHROMIUM=${env.TOLLGATE_CHROMIUM}` : DEBIAN_CHROMIUM;
  if (found) return { action: 'use', path: found, note: found === (env.TOLLGATE_CHROMIUM || DEBIAN_CHROMIUM) ? '' : ` (${wanted} is missing)` };
  if (!blocker) return { action: 'install' };
  return {
    action: 'fail',
    line: `Chromium not found (${wanted}, none on PATH) and ${blocker}: install it with ${installHint('chromium')}, or point TOLLGATE_CHROMIUM at a Chromium`,
  };
}

/** Decides what to do about Redis: use REDIS_URL, start a private redis-server for this run, or fail with one line. */
export function redisPlan({ url, reachable, serverInstalled }) {
  if (reachable) return { action: 'use' };
  if (serverInstalled) return { action: 'start' };
  return {
    action: 'fail',
    line: `no Redis answers at ${redactUrl(url)} and redis-server is not installed: install it with ${installHint('redis-server')}, or set REDIS_URL`,
  };
}

/** A Redis URL fit to print: the password replaced. */
export function redactUrl(url) {
  return url.replace(/\/\/([^@/]*):[^@/]*@/, '//$1:***@');
}

/** The full path of `name` on PATH, or null. */
export function whichOn(path) {
  return (name) => {
    for (const dir of (path ?? '').split(delimiter)) {
      if (!dir) continue;
      const candidate = join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
    return null;
  };
}

function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

class PretestFailure extends Error {}

/**
 * Runs the checks. Returns the environment the suite must run with (REDIS_URL of a Redis started here,
 * TOLLGATE_CHROMIUM of the Chromium found) and stop(), which ends a Redis started here. Throws PretestFailure.
 */
export async function prepareTestEnvironment({ env = process.env, log = (line) => console.log(`pretest: ${line}`) } = {}) {
  const which = whichOn(env.PATH);
  const blocker = installBlocker({ env, uid: process.getuid?.() ?? -1, which });
  const suiteEnv = {};
  let stop = async () => undefined;

  if (!which('redis-server') || !which('redis-cli')) {
    if (blocker)
      throw new PretestFailure(
        `redis-server and redis-cli are needed (the suite starts private Redis servers) and ${blocker}: install them with ${installHint('redis-server')}`,
      );
    log("redis-server not installed: installing Debian's redis-server (apt-get, as root)");
    aptInstall('redis-server');
  }
  const url = env.REDIS_URL || DEFAULT_REDIS_URL;
  const redis = redisPlan({ url, reachable: await redisAnswers(url, 1500), serverInstalled: Boolean(which('redis-server')) });
  if (redis.action === 'fail') throw new PretestFailure(redis.line);
  if (redis.action === 'use') log(`Redis answers at ${redactUrl(url)}${env.REDIS_URL ? ' (REDIS_URL)' : ''}`);
  if (redis.action === 'start') {
    const started = await startPrivateRedis(which('redis-server'));
    suiteEnv.REDIS_URL = started.url;
    stop = started.stop;
    log(`no Redis answers at ${redactUrl(url)}: started redis-server at ${started.url} for this run (REDIS_URL)`);
  }

  let candidates = chromiumCandidates({ env, which });
  let chromium = chromiumPlan({ env, found: candidates.find(isExecutable), blocker });
  if (chromium.action === 'install') {
    log("Chromium not found: installing Debian's chromium (apt-get, as root; takes a minute)");
    aptInstall('chromium');
    candidates = [...chromiumCandidates({ env, which }), DEBIAN_CHROMIUM];
    chromium = chromiumPlan({ env, found: candidates.find(isExecutable), blocker: 'the install did not put it there' });
  }
  if (chromium.action === 'fail') {
    await stop();
    throw new PretestFailure(chromium.line);
  }
  suiteEnv.TOLLGATE_CHROMIUM = chromium.path;
  log(`Chromium at ${chromium.path}${chromium.note}`);
  return { env: suiteEnv, stop };
}

function aptInstall(pkg) {
  const run = spawnSync('/bin/sh', ['-c', `${APT} ${pkg}`], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (run.status !== 0)
    throw new PretestFailure(`\`apt-get install ${pkg}\` failed (exit ${run.status ?? run.signal}): install it by hand with ${installHint(pkg)}`);
}

/** PING through ioredis, bounded: true on PONG, false on anything else within `timeoutMs`. */
async function redisAnswers(url, timeoutMs) {
  let Redis;
  try {
    ({ Redis } = await import('ioredis'));
  } catch {
    throw new PretestFailure('the dependencies are not installed: run `npm ci` first');
  }
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  client.on('error', () => undefined);
  const timer = new Promise((resolve) => setTimeout(resolve, timeoutMs, false).unref());
  try {
    return await Promise.race([
      client
        .connect()
        .then(() => client.ping())
        .then((answer) => answer === 'PONG'),
      timer,
    ]);
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** A loopback port below the ephemeral range that nothing listens on (the range the suite's private Redis servers use). */
async function freePort() {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new PretestFailure('no free loopback port in 20000-31999 for a private Redis');
}

/** redis-server as a child of this process, without persistence, alive until stop() or this process ends. */
async function startPrivateRedis(binary) {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'];
  const child = spawn(binary, args, { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  const deadline = Date.now() + 5000;
  while (!(await redisAnswers(url, 500))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      kill();
      throw new PretestFailure(`redis-server did not answer on ${url} within 5 s (exit ${child.exitCode ?? 'none'})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const stop = async () => {
    process.removeListener('exit', kill);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    kill();
    await exited;
  };
  return { url, stop };
}

/** For run-tests.js: the checks, or one `pretest: FAILED ...` line and exit code 1. */
export async function pretestOrExit(options) {
  try {
    return await prepareTestEnvironment(options);
  } catch (error) {
    if (!(error instanceof PretestFailure)) throw error;
    console.error(`pretest: FAILED: ${error.message}`);
    process.exit(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // run alone (`node scripts/pretest.js`): the checks only; a Redis started here would die with this process
  const prepared = await pretestOrExit();
  await prepared.stop();
  process.exit(0); // a refused connection leaves ioredis's connect timer pending for up to its timeout
}
