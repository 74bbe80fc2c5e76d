// Rewriting the journal from what the ledger holds: one line per scope and held (folded) event instead of one per settlement.
import { ledgerAmount, METRIC_COUNT, type AmountRow } from '../amounts.ts';
import { replaceFile, writeAll } from './file.ts';
import { encodeRecord } from './record.ts';

/** The ledger's settled usage at one moment, copied, so it can be written out while the ledger goes on. */
export interface LedgerSnapshot {
  /** How many records `records()` yields. */
  readonly events: number;
  records(): Iterable<{ readonly at: number; readonly scopes: readonly string[]; readonly row: AmountRow }>;
}

const BATCH_CHARS = 1 << 20;

/** Replaces the journal file with `head` (a watermark line) and the snapshot's records (atomically: temp file, fsync, rename). */
export async function writeSnapshot(file: string, snapshot: LedgerSnapshot, head = ''): Promise<void> {
  await replaceFile(file, async (handle) => {
    let batch = head;
    for (const record of snapshot.records()) {
      batch += encodeRecord(record.at, record.scopes, heldRow(record.row));
      if (batch.length < BATCH_CHARS) continue;
      await writeAll(handle, Buffer.from(batch, 'utf8'));
      batch = '';
    }
    if (batch.length > 0) await writeAll(handle, Buffer.from(batch, 'utf8'));
  });
}

/** Folded amounts can sum past 2^53 − 1, which replay would refuse; held there, they still exceed every limit. */
function heldRow(row: AmountRow): AmountRow {
  for (let column = 0; column < METRIC_COUNT; column++) row[column] = ledgerAmount(row[column]);
  return row;
}
