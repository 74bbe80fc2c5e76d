// Benchmark of the embedded ledger: reserve+settle cost with 0, 100k and 1M events in the window, and start-up from a 1M-record journal.
import { copyFile, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLedger } from '../src/ledger/memory.ts';
import { Journal, replayJournal, type CompactResult } from '../src/ledger/journal/journal.ts';
import { createLedger } from '../src/ledger/create.ts';
import type { Config } from '../src/config/config.ts';
import { toRow } from '../src/ledger/amounts.ts';
import type { LimitCheck } from '../src/ledger/ledger.ts';

const HOUR = 3_600_000;
const RUNS = 5;
const OPS_PER_RUN = 50_000;
const SCOPES = ['agent:bench', 'shared:team'];
const CHECKS: LimitCheck[] = [
  { id: 'agent:bench/usd/1h', scope: 'agent:bench', metric: 'usd_micros', windowMs: HOUR, limit: Number.MAX_SAFE_INTEGER },
  { id: 'agent:bench/requests/1h', scope: 'agent:bench', metric: 'requests', windowMs: HOUR, limit: Number.MAX_SAFE_INTEGER },
  { id: 'agent:bench/usd/24h', scope: 'agent:bench', metric: 'usd_micros', windowMs: 24 * HOUR, limit: Number.MAX_SAFE_INTEGER },
  { id: 'shared:team/usd/1h', scope: 'shared:team', metric: 'usd_micros', windowMs: HOUR, limit: Number.MAX_SAFE_INTEGER },
  { id: 'agent:bench/concurrency', scope: 'agent:bench', metric: 'concurrency', windowMs: 0, limit: 1000 },
];
const SETTLED = { usd_micros: 750, requests: 1, input_tokens: 100, output_tokens: 50, total_tokens: 150 };

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function seededLedger(events: number, journal: Journal | null): Promise<MemoryLedger> {
  // grainMs 0: every record stays its own event, the worst case (records as spread out as the seconds in a window);
  // by default the records of one second fold into one event per scope
  const ledger = new MemoryLedger({ sweepIntervalMs: 0, grainMs: 0 });
  const now = Date.now();
  const step = (HOUR * 0.9) / Math.max(1, events);
  const row = toRow(SETTLED);
  for (let i = 0; i < events; i++) ledger.loadRecord({ scopes: SCOPES, row, at: now - HOUR * 0.9 + i * step });
  ledger.attachJournal(journal);
  return ledger;
}

async function reserveSettleRun(ledger: MemoryLedger, run: number): Promise<number> {
  const started = process.hrtime.bigint();
  for (let i = 0; i < OPS_PER_RUN; i++) {
    const id = `b${run}-${i}`;
    const outcome = await ledger.reserve({ id, scopes: SCOPES, amounts: { usd_micros: 2000, requests: 1 }, checks: CHECKS, leaseMs: 60_000 });
    if (!outcome.admitted) throw new Error('bench limits must admit');
    await ledger.settle({ id, amounts: SETTLED });
  }
  return Number(process.hrtime.bigint() - started) / 1000 / OPS_PER_RUN;
}

async function benchCheckCost(events: number, journalFile: string | null): Promise<void> {
  const journal = journalFile ? await Journal.open({ file: journalFile }) : null;
  const ledger = await seededLedger(events, journal);
  await reserveSettleRun(ledger, -1); // warm-up
  const micros: number[] = [];
  for (let run = 0; run < RUNS; run++) micros.push(await reserveSettleRun(ledger, run));
  await ledger.close();
  const us = median(micros);
  const label = `${events.toLocaleString('en-US').padStart(9)} events${journalFile ? ', journal on ' : ', memory only'}`;
  console.log(
    `  ${label}: ${Math.round(1e6 / us)
      .toLocaleString('en-US')
      .padStart(
        9,
      )} reserve+settle/s  ${us.toFixed(2).padStart(6)} µs/op  (${CHECKS.length} checks, 2 scopes, median of ${RUNS}×${OPS_PER_RUN.toLocaleString('en-US')})`,
  );
}

/** A journal of `records` settlements one second apart on 2 of 51 scopes, the first `expiredShare` of them past the 35-day retention. */
async function writeJournal(file: string, records: number, expiredShare: number): Promise<void> {
  const journal = await Journal.open({ file });
  const row = toRow(SETTLED);
  const now = Date.now();
  const step = expiredShare > 0 ? Math.round((35 * 24 * HOUR) / (records * (1 - expiredShare))) : 1000;
  const first = expiredShare > 0 ? now - records * step : now - 20 * 24 * HOUR;
  for (let i = 0; i < records; i++) {
    journal.append({ at: first + i * step, scopes: [`agent:a${i % 50}`, 'shared:team'], row, requestId: `req-${i}` });
    if (i % 10_000 === 9_999) await journal.flush();
  }
  await journal.close();
}

/** What an operator waits for: createLedger on a copy of the journal until ready, then until its background compaction ends. */
async function benchStartup(dir: string, records: number, expiredShare: number): Promise<void> {
  const source = join(dir, `replay-${expiredShare}.jsonl`);
  await writeJournal(source, records, expiredShare);
  const { size } = await stat(source);
  const ready: number[] = [];
  const compacted: number[] = [];
  const replayOnly: number[] = [];
  let heapMb = 0;
  for (let run = 0; run < 3; run++) {
    const dataDir = join(dir, `data-${expiredShare}-${run}`);
    await mkdir(dataDir, { recursive: true });
    await copyFile(source, join(dataDir, 'journal.jsonl'));
    global.gc?.();
    const before = process.memoryUsage();
    const config = { dataDir, historyDir: join(dir, 'no-history'), ledger: { kind: 'memory' } } as unknown as Config;
    let done: (result: CompactResult) => void = () => undefined;
    const compaction = new Promise<CompactResult>((resolve) => (done = resolve));
    const started = performance.now();
    const ledger = await createLedger({ config, onCompacted: (result) => done(result) });
    ready.push(performance.now() - started);
    await compaction;
    compacted.push(performance.now() - started);
    global.gc?.();
    const after = process.memoryUsage();
    heapMb = Math.max(heapMb, (after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers) / 1e6);
    await ledger.close();
    // the replay alone, into a fresh ledger, from the same file as it was
    await copyFile(source, join(dataDir, 'journal.jsonl'));
    const alone = new MemoryLedger({ sweepIntervalMs: 0 });
    replayOnly.push((await replayJournal({ file: join(dataDir, 'journal.jsonl'), ledger: alone, retentionMs: 35 * 24 * HOUR })).ms);
    await alone.close();
  }
  const label = expiredShare > 0 ? `${Math.round(expiredShare * 100)}% past the retention` : 'all within the retention';
  console.log(
    `  ${records.toLocaleString('en-US')} records, ${label} (${(size / 1e6).toFixed(0)} MB file, 2 scopes each over 51 scopes): replay ${Math.round(median(replayOnly))} ms; createLedger ready in ${Math.round(median(ready))} ms, journal compacted ${Math.round(median(compacted))} ms after the start (medians of 3; load ${loadavg()[0].toFixed(1)})`,
  );
  console.log(`  ledger memory after start-up ≈ ${heapMb.toFixed(0)} MB${global.gc ? '' : ' (run node with --expose-gc for this figure)'}`);
}

const dir = await mkdtemp(join(tmpdir(), 'tollgate-bench-ledger-'));
try {
  console.log('ledger check cost (MemoryLedger.reserve + settle, awaited one at a time)');
  for (const events of [0, 100_000, 1_000_000]) await benchCheckCost(events, null);
  for (const events of [0, 1_000_000]) await benchCheckCost(events, join(dir, `j${events}.jsonl`));
  console.log('journal start-up');
  await benchStartup(dir, 1_000_000, 0);
  await benchStartup(dir, 1_000_000, 0.4);
} finally {
  await rm(dir, { recursive: true, force: true });
}
