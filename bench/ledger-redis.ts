// Benchmark of the Redis ledger against the embedded one: reserve+settle ops/s and latency at concurrency 1 and 32.
// Run: node --import tsx bench/ledger-redis.ts   (REDIS_URL, default redis://127.0.0.1:6379; BENCH_OPS, BENCH_RUNS)
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Ledger } from '../src/ledger/ledger.ts';
import { MemoryLedger } from '../src/ledger/memory.ts';
import { createRedisLedger, type RedisLedger } from '../src/ledger/redis/ledger.ts';
import { CHECKS, deletePrefix, SCOPES, SETTLED } from './ledger-shape.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const OPS = Number(process.env.BENCH_OPS ?? 4000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CONCURRENCIES = (process.env.BENCH_CONCURRENCY ?? '1,32').split(',').map(Number);

interface RunResult {
  readonly opsPerSecond: number;
  readonly p50Us: number;
  readonly p99Us: number;
}

function percentile(sorted: Float64Array, fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))];
}

/** OPS reserve+settle pairs spread over `concurrency` workers; latency is one pair's wall time. */
async function run(ledger: Ledger, concurrency: number): Promise<RunResult> {
  const latencies = new Float64Array(OPS);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let index = next++; index < OPS; index = next++) {
        const id = randomUUID();
        const begin = performance.now();
        const outcome = await ledger.reserve({ id, scopes: SCOPES, amounts: { usd_micros: 2000, requests: 1 }, checks: CHECKS, leaseMs: 60_000 });
        if (!outcome.admitted) throw new Error('bench limits must admit');
        if (!(await ledger.settle({ id, amounts: SETTLED }))) throw new Error('bench settle must succeed');
        latencies[index] = (performance.now() - begin) * 1000;
      }
    }),
  );
  const elapsedMs = performance.now() - started;
  latencies.sort();
  return { opsPerSecond: (OPS / elapsedMs) * 1000, p50Us: percentile(latencies, 0.5), p99Us: percentile(latencies, 0.99) };
}

function medianBy(results: RunResult[], key: keyof RunResult): number {
  const values = results.map((result) => result[key]).sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)];
}

async function bench(name: string, ledger: Ledger, concurrency: number): Promise<void> {
  await run(ledger, concurrency); // warm-up
  const results: RunResult[] = [];
  for (let index = 0; index < RUNS; index++) results.push(await run(ledger, concurrency));
  const ops = Math.round(medianBy(results, 'opsPerSecond')).toLocaleString('en-US');
  const p50 = medianBy(results, 'p50Us').toFixed(0);
  const p99 = medianBy(results, 'p99Us').toFixed(0);
  console.log(
    `  ${name.padEnd(26)} c=${String(concurrency).padEnd(3)} ${ops.padStart(9)} reserve+settle/s   p50 ${p50.padStart(6)} µs   p99 ${p99.padStart(6)} µs`,
  );
}

/** A day of usage, one request a second on both scopes, so the windows read full buckets as in steady state. */
async function seed(ledger: RedisLedger | MemoryLedger): Promise<void> {
  const now = Date.now();
  const entries = Array.from({ length: 86_400 }, (_, index) => ({ scopes: SCOPES, amounts: SETTLED, at: now - index * 1000 }));
  if (ledger instanceof MemoryLedger) for (const entry of entries) await ledger.record(entry);
  else await ledger.recordMany(entries);
}

/** Server-side microseconds per script call, from Redis' own command statistics. */
async function serverMicrosPerCall(admin: Redis, body: () => Promise<void>): Promise<number> {
  await admin.config('SET', 'lazyfree-lazy-user-flush', 'no').catch(() => undefined);
  await admin.config('RESETSTAT');
  await body();
  const stats = await admin.info('commandstats');
  const match = /cmdstat_(?:evalsha|fcall):calls=(\d+),usec=(\d+)/.exec(stats);
  return match ? Number(match[2]) / Number(match[1]) : Number.NaN;
}

async function main(): Promise<void> {
  const prefix = `bench-${randomUUID().slice(0, 8)}`;
  const redis = await createRedisLedger({ url: REDIS_URL, keyPrefix: prefix });
  if (!(await redis.health()).ok) throw new Error(`Redis not reachable at ${REDIS_URL}`);
  const memory = new MemoryLedger({ sweepIntervalMs: 0 });
  const admin = new Redis(REDIS_URL);
  console.log(`ledger reserve+settle: ${CHECKS.length} checks (1 h, 1 h, 24 h, shared 1 h, concurrency), 2 scopes; ${OPS} pairs × median of ${RUNS}`);
  try {
    for (const [label, seeded] of [
      ['empty windows', false],
      ['a day at 1 req/s', true],
    ] as const) {
      if (seeded) {
        const started = performance.now();
        await seed(redis);
        const seconds = (performance.now() - started) / 1000;
        console.log(
          `  (seeded 86,400 records into Redis with recordMany in ${seconds.toFixed(1)} s: ${Math.round(86_400 / seconds).toLocaleString('en-US')} records/s)`,
        );
        await seed(memory);
      }
      console.log(`${label}:`);
      for (const concurrency of CONCURRENCIES) {
        await bench('memory', memory, concurrency);
        await bench('redis (127.0.0.1)', redis, concurrency);
      }
      const perCall = await serverMicrosPerCall(admin, async () => void (await run(redis, 1)));
      console.log(`  redis server time per script call (reserve or settle): ${perCall.toFixed(1)} µs`);
    }
  } finally {
    await memory.close();
    await redis.close();
    await deletePrefix(admin, prefix);
    admin.disconnect();
  }
}

await main();
