// Redis server time of each ledger script (reserve, settle) at the bench's policy shape, from INFO commandstats.
// Run: node bin/run-ts.js bench/redis-script-time.ts   (REDIS_URL, default redis://127.0.0.1:6379; BENCH_OPS, BENCH_RUNS)
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Ledger } from '../src/ledger/ledger.ts';
import { createRedisLedger, type RedisLedger } from '../src/ledger/redis/ledger.ts';
import { CHECKS, deletePrefix, SCOPES, SETTLED } from './ledger-shape.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const OPS = Number(process.env.BENCH_OPS ?? 2000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
/** Reservations open at a time. */
const BATCH = Number(process.env.BENCH_BATCH ?? 32);

interface Tally {
  calls: number;
  usec: number;
  cpuUsec: number;
}

/** The server's CPU time (user + system), in µs. */
async function serverCpu(admin: Redis): Promise<number> {
  const info = await admin.info('cpu');
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? Number.NaN);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6;
}

/**
 * Adds to `into` the ledger calls (EVALSHA, or FCALL from v3 on) and microseconds Redis counted while `body` ran (its usec_per_call: wall time in
 * the server, which a busy machine inflates) and the server's CPU time meanwhile (only measured scripts run then).
 */
async function count(admin: Redis, into: Tally, body: () => Promise<void>): Promise<void> {
  await admin.config('RESETSTAT');
  const cpu = await serverCpu(admin);
  await body();
  into.cpuUsec += (await serverCpu(admin)) - cpu;
  const match = /cmdstat_(?:evalsha|fcall):calls=(\d+),usec=(\d+)/.exec(await admin.info('commandstats'));
  if (match) {
    into.calls += Number(match[1]);
    into.usec += Number(match[2]);
  }
}

/**
 * One run: OPS reserve+settle pairs in batches of BATCH (BATCH reserves one after another, measured, then their settles,
 * measured), so at most BATCH reservations are open at a time, as with BATCH calls in flight.
 */
async function once(ledger: Ledger, admin: Redis): Promise<Result> {
  const reserve: Tally = { calls: 0, usec: 0, cpuUsec: 0 };
  const settle: Tally = { calls: 0, usec: 0, cpuUsec: 0 };
  for (let done = 0; done < OPS; done += BATCH) {
    const ids = Array.from({ length: BATCH }, () => randomUUID());
    await count(admin, reserve, async () => {
      for (const id of ids) {
        const outcome = await ledger.reserve({ id, scopes: SCOPES, amounts: { usd_micros: 2000, requests: 1 }, checks: CHECKS, leaseMs: 60_000 });
        if (!outcome.admitted) throw new Error('bench limits must admit');
      }
    });
    await count(admin, settle, async () => {
      for (const id of ids) if (!(await ledger.settle({ id, amounts: SETTLED }))) throw new Error('bench settle must succeed');
    });
  }
  return {
    reserve: reserve.usec / reserve.calls,
    settle: settle.usec / settle.calls,
    reserveCpu: reserve.cpuUsec / reserve.calls,
    settleCpu: settle.cpuUsec / settle.calls,
  };
}

interface Result {
  readonly reserve: number;
  readonly settle: number;
  readonly reserveCpu: number;
  readonly settleCpu: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function measure(label: string, ledger: Ledger, admin: Redis): Promise<void> {
  await once(ledger, admin); // warm-up
  const runs: Result[] = [];
  for (let index = 0; index < RUNS; index++) runs.push(await once(ledger, admin));
  const show = (key: keyof Result) => {
    const values = runs.map((run) => run[key]);
    return `${median(values).toFixed(1).padStart(6)} µs (runs ${values.map((value) => value.toFixed(1)).join(', ')})`;
  };
  console.log(`${label}:`);
  console.log(`  reserve usec_per_call ${show('reserve')}; server CPU per call ${show('reserveCpu')}`);
  console.log(`  settle  usec_per_call ${show('settle')}; server CPU per call ${show('settleCpu')}`);
}

/** A day of usage, one request a second on both scopes, so windows read full buckets as in steady state. */
async function seed(ledger: RedisLedger): Promise<void> {
  const now = Date.now();
  await ledger.recordMany(Array.from({ length: 86_400 }, (_, index) => ({ scopes: SCOPES, amounts: SETTLED, at: now - index * 1000 })));
}

async function main(): Promise<void> {
  const prefix = `bench-${randomUUID().slice(0, 8)}`;
  const ledger = await createRedisLedger({ url: REDIS_URL, keyPrefix: prefix });
  if (!(await ledger.health()).ok) throw new Error(`Redis not reachable at ${REDIS_URL}`);
  const admin = new Redis(REDIS_URL);
  console.log(
    `redis server time per script call, ${CHECKS.length} checks over ${SCOPES.length} scopes; ${OPS} pairs, ${BATCH} open at a time; median of ${RUNS}`,
  );
  try {
    await measure('empty windows', ledger, admin);
    await seed(ledger);
    await measure('a day at 1 req/s', ledger, admin);
  } finally {
    await ledger.close();
    await deletePrefix(admin, prefix);
    admin.disconnect();
  }
}

await main();
