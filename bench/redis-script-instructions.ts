// CPU instructions per ledger script call (reserve, settle) on a private redis-server run under callgrind: repeatable where µs are not.
// Run: node bin/run-ts.js bench/redis-script-instructions.ts   (valgrind and redis-server on PATH; BENCH_OPS, default 256)
import { randomUUID } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { createRedisLedger, type RedisLedger } from '../src/ledger/redis/ledger.ts';
import { CHECKS, SCOPES, SETTLED } from './ledger-shape.ts';

const OPS = Number(process.env.BENCH_OPS ?? 256);
/** Reservations open at a time, as in redis-script-time.ts. */
const BATCH = 32;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Instructions the server ran while `body` ran: callgrind's counters zeroed before, dumped after (the dump's
 * "summary" line). Everything the server did counts: reading the command, the script, writing the reply.
 */
async function instructions(pid: number, dir: string, body: () => Promise<void>): Promise<number> {
  execFileSync('callgrind_control', ['--zero', String(pid)], { stdio: 'ignore' });
  await body();
  execFileSync('callgrind_control', ['--dump', String(pid)], { stdio: 'ignore' });
  const dumps = readdirSync(dir)
    .filter((name) => name.startsWith('cg.out.'))
    .map((name) => join(dir, name))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  const summary = /^summary: (\d+)/m.exec(readFileSync(dumps[0], 'utf8'));
  if (!summary) throw new Error('no summary in the callgrind dump');
  return Number(summary[1]);
}

/** OPS pairs in batches of BATCH: the batch's reserves, then its settles; instructions per call of each. */
async function measure(ledger: RedisLedger, pid: number, dir: string): Promise<{ reserve: number; settle: number }> {
  let reserve = 0;
  let settle = 0;
  for (let done = 0; done < OPS; done += BATCH) {
    const ids = Array.from({ length: BATCH }, () => randomUUID());
    reserve += await instructions(pid, dir, async () => {
      for (const id of ids) await ledger.reserve({ id, scopes: SCOPES, amounts: { usd_micros: 2000, requests: 1 }, checks: CHECKS, leaseMs: 60_000 });
    });
    settle += await instructions(pid, dir, async () => {
      for (const id of ids) if (!(await ledger.settle({ id, amounts: SETTLED }))) throw new Error('bench settle must succeed');
    });
  }
  return { reserve: reserve / OPS, settle: settle / OPS };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-callgrind-'));
  const port = await freePort();
  const server = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      `--callgrind-out-file=${join(dir, 'cg.out')}`,
      'redis-server',
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
    ],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  try {
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null });
    probe.on('error', () => undefined);
    for (let attempt = 0; ; attempt++) {
      try {
        await probe.connect();
        break;
      } catch (error) {
        if (attempt > 100) throw error;
        await sleep(200);
      }
    }
    probe.disconnect();
    // callgrind runs the server ~50 times slower: the default command timeout would cut calls short
    const ledger = await createRedisLedger({ url, keyPrefix: 'bench', commandTimeoutMs: 30_000 });
    try {
      await measure(ledger, server.pid as number, dir); // warm-up: the library loaded, the states and sums exist
      const { reserve, settle } = await measure(ledger, server.pid as number, dir);
      console.log(
        `redis-server instructions per script call (callgrind), ${CHECKS.length} checks over ${SCOPES.length} scopes; ${OPS} pairs, ${BATCH} open at a time`,
      );
      console.log(`  reserve ${Math.round(reserve).toLocaleString('en-US')}`);
      console.log(`  settle  ${Math.round(settle).toLocaleString('en-US')}`);
    } finally {
      await ledger.close();
    }
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
