// The embedded ledger's journal before and after a compaction from the ledger's held state: lines, bytes, replay time.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal, replayJournal } from '../src/ledger/journal/journal.ts';
import { MemoryLedger } from '../src/ledger/memory.ts';

const DAY = 86_400_000;
const RETENTION_MS = 35 * DAY;
// RATE calls per second for DAYS days, each settling in an agent scope and a shared pool
const rate = Number(process.env.RATE ?? 20);
const days = Number(process.env.DAYS ?? 1);

const dir = await mkdtemp(join(tmpdir(), 'tollgate-journal-size-'));
const file = join(dir, 'journal.jsonl');
let now = 40 * DAY;
const clock = (): number => now;
const ledger = new MemoryLedger({ now: clock, sweepIntervalMs: 0 });
const journal = await Journal.open({ file });
ledger.attachJournal(journal);
const amounts = { usd_micros: 123, requests: 1, input_tokens: 50, output_tokens: 20, total_tokens: 70 };
let settlements = 0;
for (let at = now, end = now + days * DAY; at < end; at += 1000 / rate) {
  now = Math.floor(at);
  void ledger.record({ scopes: ['agent:a', 'pool:p'], amounts, at: now });
  settlements += 1;
  if (settlements % 200_000 === 0) await journal.flush(); // keeps the write queue (memory) bounded
}
await journal.flush();

const replay = async (): Promise<{ lines: number; bytes: number; ms: number }> => {
  const started = performance.now();
  const { records } = await replayJournal({ file, ledger: new MemoryLedger({ now: clock, sweepIntervalMs: 0 }), retentionMs: RETENTION_MS, now: clock });
  return { lines: records, bytes: (await stat(file)).size, ms: Math.round(performance.now() - started) };
};
const before = await replay();
const compaction = await journal.compact({ retentionMs: RETENTION_MS, now: clock, snapshot: () => ledger.snapshot() });
const after = await replay();
await journal.close();
await rm(dir, { recursive: true });

console.log(`${settlements} settlements (${rate}/s for ${days} d, 2 scopes each)`);
console.log(`before: ${before.lines} lines, ${(before.bytes / 1e6).toFixed(1)} MB, replay ${before.ms} ms`);
console.log(`compaction from the ledger's snapshot: ${compaction.ms} ms`);
console.log(
  `after:  ${after.lines} lines, ${(after.bytes / 1e6).toFixed(2)} MB, replay ${after.ms} ms; agent scope holds ${ledger.eventsHeld('agent:a')} events`,
);
