// The embedded ledger's data directory lock: one holder at a time, stale locks taken over, only one's own released.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataDirLockedError, LOCK_FILE_NAME, lockDataDir } from '../../../src/ledger/data-dir-lock.ts';
import { createLedger } from '../../../src/ledger/create.ts';
import type { Config } from '../../../src/config/config.ts';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'tollgate-lock-'));
}

/** The pid of a process that has exited (a child run to completion). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

async function writeLock(dir: string, holder: unknown, ageMs = 0): Promise<void> {
  const file = join(dir, LOCK_FILE_NAME);
  await writeFile(file, typeof holder === 'string' ? holder : JSON.stringify(holder));
  const at = new Date(Date.now() - ageMs);
  await utimes(file, at, at);
}

/** Polls `check` until it holds (at most 15 s: the machine may be busy). */
async function waitUntil(check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met within 15 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const SOMEONE_ELSE = { pid: 4242, host: 'another-host', started_at: '2026-11-29T10:00:00.000Z' };

describe('data directory lock', () => {
  it('refuses a second holder, naming the first, until the first releases', async () => {
    const dir = await tempDir();
    const first = await lockDataDir({ dir });
    await assert.rejects(lockDataDir({ dir, self: { pid: process.pid + 1_000_000, host: 'another-host' } }), (error: unknown) => {
      assert.ok(error instanceof DataDirLockedError);
      assert.match(error.message, new RegExp(`in use by tollgate pid ${process.pid} on ${hostname()}`));
      assert.match(error.message, /TOLLGATE_LEDGER=redis/);
      return true;
    });
    await first.release();
    const second = await lockDataDir({ dir, self: { pid: process.pid + 1_000_000, host: 'another-host' } });
    await second.release();
    await assert.rejects(stat(join(dir, LOCK_FILE_NAME)), /ENOENT/, 'released: the file is gone');
    await rm(dir, { recursive: true });
  });

  it('takes over the lock of a process on this host that is no longer running', async () => {
    const dir = await tempDir();
    await writeLock(dir, { pid: deadPid(), host: hostname(), started_at: '2026-11-29T10:00:00.000Z' });
    const lock = await lockDataDir({ dir });
    assert.equal((JSON.parse(await readFile(lock.file, 'utf8')) as { pid: number }).pid, process.pid);
    await lock.release();
    await rm(dir, { recursive: true });
  });

  it("takes over its own pid's lock (a container restarted after kill -9 is pid 1 again)", async () => {
    const dir = await tempDir();
    await writeLock(dir, { pid: process.pid, host: hostname(), started_at: '2026-11-29T10:00:00.000Z' });
    const lock = await lockDataDir({ dir });
    await lock.release();
    await rm(dir, { recursive: true });
  });

  it("keeps a running process's lock on this host however old its file", async () => {
    const dir = await tempDir();
    await writeLock(dir, { pid: process.ppid, host: hostname(), started_at: '2026-11-29T10:00:00.000Z' }, 3_600_000);
    await assert.rejects(lockDataDir({ dir }), DataDirLockedError);
    await rm(dir, { recursive: true });
  });

  it('a lock from another host (a shared volume) is kept while fresh and taken over once stale', async () => {
    const dir = await tempDir();
    await writeLock(dir, SOMEONE_ELSE, 1_000);
    await assert.rejects(lockDataDir({ dir, staleAfterMs: 60_000 }), /in use by tollgate pid 4242 on another-host .*taken over once it is 60 s old/);
    await writeLock(dir, SOMEONE_ELSE, 61_000);
    const lock = await lockDataDir({ dir, staleAfterMs: 60_000 });
    await lock.release();
    await rm(dir, { recursive: true });
  });

  it("a lock file that does not parse is one being written while fresh, and a crash's leftover after a few seconds", async () => {
    const dir = await tempDir();
    await writeLock(dir, '{"pid":', 0);
    await assert.rejects(lockDataDir({ dir }), /its lock file is being written/);
    await writeLock(dir, '{"pid":', 6_000);
    const lock = await lockDataDir({ dir });
    await lock.release();
    await rm(dir, { recursive: true });
  });

  it('the holder refreshes the file while it holds it, and leaves alone a lock another process took over', async () => {
    const dir = await tempDir();
    const lock = await lockDataDir({ dir, heartbeatMs: 20 });
    const old = new Date(Date.now() - 3_600_000);
    await utimes(lock.file, old, old);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(Date.now() - (await stat(lock.file)).mtimeMs < 60_000, 'refreshed by the heartbeat');
    await writeLock(dir, SOMEONE_ELSE); // ours went stale and someone took it over
    await lock.release();
    assert.equal((JSON.parse(await readFile(lock.file, 'utf8')) as { host: string }).host, 'another-host', 'not ours to remove');
    await rm(dir, { recursive: true });
  });

  it('a lock file removed by hand while held is written again, with a warning', async () => {
    const dir = await tempDir();
    const warnings: string[] = [];
    const lock = await lockDataDir({ dir, heartbeatMs: 20, onWarning: (message) => warnings.push(message) });
    await rm(lock.file);
    await waitUntil(async () => (await readFile(lock.file, 'utf8').catch(() => '')) !== '');
    assert.equal((JSON.parse(await readFile(lock.file, 'utf8')) as { pid: number }).pid, process.pid);
    assert.match(warnings[0] ?? '', /had been removed while this process holds the journal; written again/);
    await assert.rejects(lockDataDir({ dir, self: { pid: deadPid(), host: hostname() } }), DataDirLockedError, 'another process is refused again');
    await lock.release();
    await assert.rejects(stat(lock.file), { code: 'ENOENT' }, 'released: removed');
    await rm(dir, { recursive: true });
  });

  it('a lock taken over by another process is said once and no longer refreshed', async () => {
    const dir = await tempDir();
    const warnings: string[] = [];
    const lock = await lockDataDir({ dir, heartbeatMs: 20, onWarning: (message) => warnings.push(message) });
    await writeLock(dir, SOMEONE_ELSE, 3_600_000); // ours went stale on a shared volume; another host took it and then stalled
    await waitUntil(() => warnings.length > 0);
    assert.match(warnings[0], /taken over by tollgate pid 4242 on another-host .*stop one of them/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(warnings.length, 1, 'said once');
    assert.ok(Date.now() - (await stat(lock.file)).mtimeMs > 3_000_000, 'their lock is not kept fresh by us');
    await lock.release();
    await rm(dir, { recursive: true });
  });

  it('a second embedded ledger on the same data directory fails before touching the journal; the first keeps it', async () => {
    const dir = await tempDir();
    const config = { dataDir: join(dir, 'data'), historyDir: join(dir, 'history'), ledger: { kind: 'memory' } } as unknown as Config;
    const first = await createLedger({ config });
    const check = { id: 'usd', scope: 'agent:a', metric: 'usd_micros' as const, windowMs: 3_600_000, limit: 1_000_000 };
    await first.reserve({ id: 'r1', scopes: ['agent:a'], amounts: { usd_micros: 300 }, checks: [check], leaseMs: 60_000 });
    await first.settle({ id: 'r1', amounts: { usd_micros: 300 } });
    // another process (here: the lock says another host, and is fresh)
    const lockFile = join(config.dataDir, LOCK_FILE_NAME);
    const ours = await readFile(lockFile, 'utf8');
    await writeFile(lockFile, JSON.stringify(SOMEONE_ELSE));
    await assert.rejects(createLedger({ config }), DataDirLockedError);
    await writeFile(lockFile, ours);
    await first.close();
    const reopened = await createLedger({ config });
    assert.equal((await reopened.standing([check]))[0].used, 300, 'the journal was not touched by the refused start');
    await reopened.close();
    await rm(dir, { recursive: true });
  });
});
