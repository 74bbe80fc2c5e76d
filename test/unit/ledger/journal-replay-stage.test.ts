// Start-up replay stages records by scope and keeps request ids as bytes: the ledger it builds is the one record-by-record loading builds.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { replayJournal, type ReplayResult } from '../../../src/ledger/journal/journal.ts';
import { encodeMark, encodeRecord, type DecodedRecord } from '../../../src/ledger/journal/record.ts';
import { MemoryLedger } from '../../../src/ledger/memory.ts';
import { toRow } from '../../../src/ledger/amounts.ts';
import type { LimitCheck } from '../../../src/ledger/ledger.ts';

const DAY = 86_400_000;
const NOW = 200 * DAY;

/** A fleet's journal, every kind of line replay meets, more records than one stage holds (65,536). */
function journal(): { text: string; idsAfterLastMark: string[]; lastMark: number; kinds: number[] } {
  let text = '';
  let ids: string[] = [];
  let lastMark = 0;
  let random = 7;
  const kinds = [0, 0, 0, 0, 0];
  const next = (below: number) => {
    random = (random * 1_103_515_245 + 12_345) % 2_147_483_648;
    return Math.floor(random / 65_536) % below; // the high bits: the low ones of this generator repeat quickly
  };
  text += encodeRecord(NOW - 60 * DAY, ['life:agent:a1'], toRow({ usd_micros: 5_000 })); // an earlier rewrite's lifetime line
  for (let i = 0; i < 80_000; i++) {
    // time order with a clock step back now and then; the first ones past the retention
    const at = NOW - 40 * DAY + i * 50_000 - (i % 997 === 0 ? 3_600_000 : 0);
    const agent = `agent:a${next(300)}`;
    const kind = next(20);
    kinds[kind < 8 ? 0 : kind < 14 ? 1 : kind < 16 ? 2 : kind < 18 ? 3 : 4] += 1;
    const scopes =
      kind < 8
        ? [agent]
        : kind < 14
          ? [agent, 'shared:team']
          : kind < 16
            ? [agent, agent] // a scope listed twice counts once
            : kind < 18
              ? [agent, `session:${30 * 60_000}:${agent}:s${next(40)}`]
              : ['shared:team', `pool:p${next(3)}`];
    const row = toRow({ usd_micros: 1 + next(1_000), requests: 1, input_tokens: next(3) === 0 ? 0 : next(500) });
    const id = next(2) === 0 ? `req-${i}` : undefined;
    if (i % 5_000 === 4_999) {
      lastMark = at - 1;
      text += encodeMark(lastMark, [`marked-${i}`]);
      ids = [`marked-${i}`];
    }
    if (i % 1_000 === 500) text += '{"t":12,"s":["agent:a1"],"a":{"usd_mi\n'; // cut by a failed write
    // a line another writer made: same record, other key order (decoded as JSON, not from its bytes)
    if (i % 777 === 0) text += `${JSON.stringify({ a: Object.fromEntries([['usd_micros', row[0]]]), s: scopes, t: at, ...(id ? { r: id } : {}) })}\n`;
    else text += encodeRecord(at, scopes, row, id);
    if (id) ids.push(id);
  }
  return { text, idsAfterLastMark: ids, lastMark, kinds };
}

/**
 * A fleet's journal: thousands of scopes one record each in turn (more than the stage and the decoder start with room
 * for), request ids, a watermark now and then, the first records past the retention, bursts within one second (folded
 * into one event), records charging nothing, a list of two scopes, malformed and empty lines; more records than one
 * stage holds.
 */
function fleetJournal(): { text: string; lastMark: number; idsAfterLastMark: string[] } {
  const scopes = 3_000;
  const records = 150_000;
  let text = '';
  let ids: string[] = [];
  let lastMark = 0;
  const start = NOW - 36 * DAY;
  const step = Math.floor((36 * DAY - 1_000) / records);
  for (let i = 0; i < records; i++) {
    const at = start + i * step;
    const agent = `agent:fleet-${i % scopes}`;
    // a burst: the same agent again within the same second; now and then a record that charges nothing
    const list = i % 1_009 === 0 ? [agent, 'shared:fleet'] : [agent];
    const row = toRow(i % 4_999 === 0 ? {} : { usd_micros: 100 + (i % 7), requests: 1, input_tokens: i % 3 === 0 ? 0 : 40, total_tokens: 60 });
    text += encodeRecord(at, list, row, `req-${i}`);
    ids.push(`req-${i}`);
    if (i % 997 === 0) {
      text += encodeRecord(at + 1, [agent], toRow({ usd_micros: 5, requests: 1 }), `burst-${i}`);
      ids.push(`burst-${i}`);
    }
    if (i % 20_000 === 19_999) {
      lastMark = at + 1;
      text += encodeMark(lastMark, [`marked-${i}`]);
      ids = [`marked-${i}`];
    }
    if (i % 10_007 === 0) text += '{"t":12,"s":["agent:fleet-1"],"a":{"usd_mi\n'; // cut by a failed write
    if (i % 3_001 === 0) text += '\n'; // an empty line (not counted)
  }
  return { text, lastMark, idsAfterLastMark: ids };
}

function describeLedger(ledger: MemoryLedger): string[] {
  const snapshot = ledger.snapshot();
  return [...snapshot.records()].map((record) => encodeRecord(record.at, record.scopes, record.row)).sort();
}

/**
 * Replays `text` twice, staged (MemoryLedger as it is) and record by record, and checks both ledgers alike: the
 * replay's counts, the ids since the last watermark, the held records, the standing of `checked` scopes' windows.
 */
async function replaysAlike(input: {
  readonly text: string;
  readonly lastMark: number;
  readonly idsAfterLastMark: readonly string[];
  readonly maxSessions?: number;
  readonly checked: readonly string[];
}): Promise<ReplayResult> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-stage-'));
  const file = join(dir, 'journal.jsonl');
  await writeFile(file, input.text);
  const options = { now: () => NOW, sweepIntervalMs: 0, maxSessions: input.maxSessions };
  const staged = new MemoryLedger(options);
  const plain = new MemoryLedger(options);
  const byRecord = {
    loadRecord: (record: DecodedRecord, now?: number) => plain.loadRecord(record, now),
    loadLifetime: (record: DecodedRecord) => plain.loadLifetime(record),
  };
  const a = await replayJournal({ file, ledger: staged, retentionMs: 35 * DAY, now: () => NOW });
  const b = await replayJournal({ file, ledger: byRecord, retentionMs: 35 * DAY, now: () => NOW });
  assert.deepEqual({ ...a, ms: 0 }, { ...b, ms: 0 });
  assert.equal(a.journaled.watermark, input.lastMark);
  assert.deepEqual([...a.journaled.requestIds].sort(), [...input.idsAfterLastMark].sort());
  assert.equal(staged.scopesHeld, plain.scopesHeld);
  assert.equal(staged.sessionsHeld, plain.sessionsHeld);
  assert.deepEqual(describeLedger(staged), describeLedger(plain));
  const checks: LimitCheck[] = input.checked.flatMap((scope) => [
    { id: `${scope}/h`, scope, metric: 'usd_micros', windowMs: 3_600_000, limit: 1e15 },
    { id: `${scope}/7d`, scope, metric: 'requests', windowMs: 7 * DAY, limit: 1e15 },
    { id: `${scope}/30d`, scope, metric: 'input_tokens', windowMs: 30 * DAY, limit: 1e15 },
    { id: `${scope}/life`, scope, metric: 'usd_micros', windowMs: 0, limit: 1e15, lifetime: true },
  ]);
  assert.deepEqual(await staged.standing(checks), await plain.standing(checks));
  await staged.close();
  await plain.close();
  await rm(dir, { recursive: true });
  return a;
}

describe('journal replay, staged by scope', () => {
  it('builds the same ledger as loading record by record, with the ids since the last watermark', async () => {
    const { text, idsAfterLastMark, lastMark, kinds } = journal();
    assert.ok(
      kinds.every((count) => count > 1_000),
      `every kind of scope list is there: ${kinds}`,
    );
    const checked = ['agent:a1', 'agent:a299', 'shared:team', 'pool:p2'];
    const a = await replaysAlike({ text, lastMark, idsAfterLastMark, maxSessions: 25, checked });
    assert.ok(a.records > 65_536 && a.expired > 0 && a.skipped === 80, `${a.records} records, ${a.expired} expired, ${a.skipped} skipped`);
  });

  it('builds the same ledger for a fleet: thousands of scopes in turn, expired records, watermarks', async () => {
    const checked = ['agent:fleet-0', 'agent:fleet-1234', 'agent:fleet-2999', 'shared:fleet'];
    const a = await replaysAlike({ ...fleetJournal(), checked });
    assert.ok(a.records > 2 * 65_536 && a.expired > 1_000 && a.skipped === 15, `${a.records} records, ${a.expired} expired, ${a.skipped} skipped`);
  });
});
