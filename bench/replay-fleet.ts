// The start-up replay alone at a fleet's shape: 1,000,000 records over 5,000 budgeted scopes, one each in turn, with request ids and a watermark every 10 minutes.
//   node --expose-gc bin/run-ts.js bench/replay-fleet.ts write <file> [records] [scopes]
//   node --expose-gc bin/run-ts.js bench/replay-fleet.ts write-team <file> [records]   (ledger-check.ts's shape: 2 of 51 scopes, one second apart)
//   node --expose-gc bin/run-ts.js bench/replay-fleet.ts replay <file> [src dir, default ./src]   (one replay, a JSON line: CPU and wall ms)
// Run replays of two trees in turn (fresh processes) and compare medians; each prints the load average it ran at.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { encodeMark, encodeRecord } from '../src/ledger/journal/record.ts';
import { toRow } from '../src/ledger/amounts.ts';

const HOUR = 3_600_000;
const [mode, file, ...rest] = process.argv.slice(2);

/** Writes `records` lines, `lines(i)` giving record i's (with any watermark before it), in batches of about 1 MB. */
async function writeLines(records: number, lines: (i: number) => string): Promise<void> {
  const out = createWriteStream(file);
  let batch = '';
  for (let i = 0; i < records; i++) {
    batch += lines(i);
    if (batch.length > 1 << 20) {
      if (!out.write(batch)) await once(out, 'drain');
      batch = '';
    }
  }
  out.end(batch);
  await once(out, 'finish');
}

const row = toRow({ usd_micros: 750, requests: 1, input_tokens: 100, output_tokens: 50, total_tokens: 150 });

if (mode === 'write-team') {
  // bench/ledger-check.ts's journal (all within the retention), with request ids and a watermark every 10 minutes
  const first = Date.now() - 20 * 24 * HOUR;
  await writeLines(Number(rest[0] ?? 1_000_000), (i) => {
    const at = first + i * 1000;
    const mark = i % 600 === 599 ? encodeMark(at - 1, [`req-${i - 1}`]) : '';
    return mark + encodeRecord(at, [`agent:a${i % 50}`, 'shared:team'], row, `req-${i}`);
  });
} else if (mode === 'write') {
  const records = Number(rest[0] ?? 1_000_000);
  const scopes = Number(rest[1] ?? 5_000);
  const lists = Array.from({ length: scopes }, (_, i) => [`agent:fleet-${2 * i}`]); // bench/fleet.ts's budgeted agents (fleetAgentId)
  // the last hour, as a busy hour leaves it (bench/setup.ts seedJournal's spacing)
  const start = Date.now() - HOUR * 0.9;
  const step = (HOUR * 0.85) / records;
  let nextMark = start + 10 * 60_000;
  await writeLines(records, (i) => {
    const at = Math.round(start + i * step);
    let mark = '';
    if (at >= nextMark) {
      mark = encodeMark(nextMark, [`req-${i - 1}`, `req-${i - 2}`]);
      nextMark += 10 * 60_000;
    }
    return mark + encodeRecord(at, lists[i % scopes], row, `req-${i}`);
  });
} else if (mode === 'replay') {
  const src = resolve(rest[0] ?? 'src');
  const { replayJournal } = await import(pathToFileURL(`${src}/ledger/journal/journal.ts`).href);
  const { MemoryLedger } = await import(pathToFileURL(`${src}/ledger/memory.ts`).href);
  global.gc?.();
  const ledger = new MemoryLedger({ sweepIntervalMs: 0 });
  const cpu = process.cpuUsage();
  const started = performance.now();
  const result = await replayJournal({ file, ledger, retentionMs: 35 * 24 * HOUR });
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000;
  console.log(
    JSON.stringify({
      src,
      cpuMs: Math.round(cpuMs),
      sysMs: Math.round(used.system / 1000),
      wallMs: Math.round(wallMs),
      records: result.records,
      ids: result.journaled.requestIds.size,
      load: Number(loadavg()[0].toFixed(2)),
    }),
  );
  await ledger.close();
} else {
  console.error('usage: replay-fleet.ts write <file> [records] [scopes] | write-team <file> [records] | replay <file> [src dir]');
  process.exitCode = 2;
}
