// npm test's pre-test step (scripts/pretest.js): what it decides on a machine without Chromium or Redis, its one-line failure, the Redis it starts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pings } from '../ledger/redis-test-support.ts';
import { chromiumCandidates, chromiumPlan, installBlocker, prepareTestEnvironment, redactUrl, redisPlan, whichOn } from '../../../scripts/pretest.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const onPath = (entries: Record<string, string>) => (name: string) => entries[name] ?? null;

/** A port nothing listens on (bound, then closed). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A PATH holding redis-server and redis-cli only: this machine as it would be without Chromium and apt-get. */
function pathWithoutChromium(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-pretest-bin-'));
  for (const name of ['redis-server', 'redis-cli']) {
    const found = whichOn(process.env.PATH)(name);
    assert.ok(found, `${name} is installed on this machine`);
    symlinkSync(found, join(dir, name));
  }
  return dir;
}

function runNode(args: string[], env: Record<string, string | undefined>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // the 30 s bound only keeps a hung run from hanging the suite; the step itself answers in about a second
    execFile(process.execPath, args, { cwd: ROOT, env: env as NodeJS.ProcessEnv, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

describe('pre-test decisions', () => {
  it('installs only as root, with apt-get, and when not switched off', () => {
    const apt = onPath({ 'apt-get': '/usr/bin/apt-get' });
    assert.equal(installBlocker({ env: {}, uid: 0, which: apt }), null);
    assert.match(installBlocker({ env: {}, uid: 1000, which: apt }) ?? '', /not root/);
    assert.match(installBlocker({ env: {}, uid: 0, which: onPath({}) }) ?? '', /no apt-get/);
    assert.match(installBlocker({ env: { TOLLGATE_PRETEST_NO_INSTALL: '1' }, uid: 0, which: apt }) ?? '', /TOLLGATE_PRETEST_NO_INSTALL=1/);
  });

  it("looks for Chromium at TOLLGATE_CHROMIUM (else Debian's path), then on PATH", () => {
    assert.deepEqual(chromiumCandidates({ env: {}, which: onPath({}) }), ['/usr/bin/chromium']);
    assert.deepEqual(chromiumCandidates({ env: { TOLLGATE_CHROMIUM: '/opt/c' }, which: onPath({ chromium: '/usr/local/bin/chromium' }) }), [
      '/opt/c',
      '/usr/local/bin/chromium',
    ]);
    assert.deepEqual(chromiumCandidates({ env: {}, which: onPath({ chromium: '/usr/bin/chromium' }) }), ['/usr/bin/chromium']);
  });

  it('uses a Chromium found, says when it is not the one asked for, installs when it can, else fails naming the command', () => {
    assert.deepEqual(chromiumPlan({ env: {}, found: '/usr/bin/chromium', blocker: null }), { action: 'use', path: '/usr/bin/chromium', note: '' });
    const fallback = chromiumPlan({ env: { TOLLGATE_CHROMIUM: '/gone' }, found: '/usr/bin/chromium', blocker: null });
    assert.equal(fallback.action, 'use');
    assert.match(fallback.action === 'use' ? fallback.note : '', /TOLLGATE_CHROMIUM=\/gone is missing/);
    assert.deepEqual(chromiumPlan({ env: {}, found: undefined, blocker: null }), { action: 'install' });
    const fail = chromiumPlan({ env: {}, found: undefined, blocker: 'not root' });
    assert.equal(fail.action, 'fail');
    assert.match(fail.action === 'fail' ? fail.line : '', /not root.*apt-get update && apt-get install -y chromium.*TOLLGATE_CHROMIUM/);
  });

  it('uses a Redis that answers, starts one when it can, else fails naming the command; never prints a password', () => {
    assert.deepEqual(redisPlan({ url: 'redis://h:1', reachable: true, serverInstalled: false }), { action: 'use' });
    assert.deepEqual(redisPlan({ url: 'redis://h:1', reachable: false, serverInstalled: true }), { action: 'start' });
    const fail = redisPlan({ url: 'redis://:hunter2@h:1', reachable: false, serverInstalled: false });
    assert.equal(fail.action, 'fail');
    const line = fail.action === 'fail' ? fail.line : '';
    assert.match(line, /apt-get install -y redis-server/);
    assert.doesNotMatch(line, /hunter2/);
    assert.equal(redactUrl('rediss://user:pw@h:6380/2'), 'rediss://user:***@h:6380/2');
  });
});

describe('pre-test step on this machine', () => {
  it('without Chromium and not allowed to install, fails with one line naming the install command', async () => {
    const run = await runNode(['scripts/pretest.js'], {
      PATH: pathWithoutChromium(),
      TOLLGATE_CHROMIUM: '/nonexistent/chromium',
      TOLLGATE_PRETEST_NO_INSTALL: '1',
      REDIS_URL: process.env.REDIS_URL,
    });
    assert.equal(run.code, 1, run.stdout + run.stderr);
    const lines = run.stderr.trim().split('\n');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0], /^pretest: FAILED: Chromium not found \(TOLLGATE_CHROMIUM=\/nonexistent\/chromium, none on PATH\) and installing is switched off/);
    assert.match(lines[0], /`apt-get update && apt-get install -y chromium`/);
  });

  it('when no Redis answers at REDIS_URL, starts redis-server for the run and gives its URL to the suite', async () => {
    const closed = `redis://127.0.0.1:${await closedPort()}`;
    const lines: string[] = [];
    const prepared = await prepareTestEnvironment({
      env: { ...process.env, REDIS_URL: closed, TOLLGATE_PRETEST_NO_INSTALL: '1' },
      log: (line) => lines.push(line),
    });
    try {
      const url = prepared.env.REDIS_URL;
      assert.ok(url && url !== closed, `a new REDIS_URL: ${lines.join(' / ')}`);
      assert.ok(await pings(url), 'the Redis it started answers');
      assert.match(lines[0], /^no Redis answers at redis:\/\/127\.0\.0\.1:\d+: started redis-server at redis:\/\/127\.0\.0\.1:\d+ for this run/);
      await prepared.stop();
      assert.equal(await pings(url), false, 'stopped with the run');
    } finally {
      await prepared.stop();
    }
  });

  it("npm test's runner hands that Redis to the test files and ends it afterwards", async () => {
    const closed = `redis://127.0.0.1:${await closedPort()}`;
    const run = await runNode(['scripts/run-tests.js', 'test/unit/scripts/suite-redis.test.ts'], {
      ...process.env,
      REDIS_URL: closed,
      TOLLGATE_PRETEST_NO_INSTALL: '1',
    });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const started = /started redis-server at (redis:\/\/127\.0\.0\.1:\d+)/.exec(run.stdout);
    assert.ok(started, run.stdout);
    assert.match(run.stdout, /^# pass 1$/m);
    assert.equal(await pings(started[1]), false, 'the Redis started for the run is gone');
  });
});
