// The embedded ledger when its journal writes fail or are cut part-way: no hold orphaned, no charge freed or doubled.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal, replayJournal } from '../../../src/ledger/journal/journal.ts';
import { MemoryLedger } from '../../../src/ledger/memory.ts';
import { toRow } from '../../../src/ledger/amounts.ts';
import type { LimitCheck } from '../../../src/ledger/ledger.ts';
import type { WriteBytes } from '../../../src/ledger/journal/file.ts';

const DAY = 86_400_000;
const usd: LimitCheck = { id: 'usd', scope: 'agent:a', metric: 'usd_micros', windowMs: 100 * DAY, limit: 1e15 };
const slots: LimitCheck = { id: 'slots', scope: 'agent:a', metric: 'concurrency', windowMs: 0, limit: 1 };

/**
 * A disk that fills up once: the first write of more than one line takes the first line and a half, the next write
 * fails with ENOSPC, and every write after that goes through.
 */
function fillsUpOnce(): { writeBytes: WriteBytes; failures: () => number } {
  let state: 'armed' | 'cut' | 'done' = 'armed';
  let failures = 0;
  const writeBytes: WriteBytes = (fd, buffer, offset, length) => {
    const chunk = buffer.subarray(offset, offset + length);
    const first = chunk.indexOf(10);
    if (state === 'armed' && first >= 0 && chunk.indexOf(10, first + 1) >= 0) {
      state = 'cut';
      return writeSync(fd, buffer, offset, first + 1 + Math.floor((chunk.indexOf(10, first + 1) - first) / 2));
    }
    if (state === 'cut') {
      state = 'done';
      failures += 1;
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    }
    return writeSync(fd, buffer, offset, length);
  };
  return { writeBytes, failures: () => failures };
}

describe('embedded ledger journal write failures', () => {
  it('writes a batch cut part-way again from its first incomplete line: replay counts no line twice and none lost', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-journal-cut-'));
    const file = join(dir, 'journal.jsonl');
    const disk = fillsUpOnce();
    const journal = await Journal.open({ file, writeBytes: disk.writeBytes });
    for (let i = 1; i <= 6; i++) journal.append({ at: i, scopes: ['agent:a'], row: toRow({ usd_micros: i }) });
    await journal.flush().catch(() => undefined);
    await journal.flush();
    assert.equal(disk.failures(), 1, 'the disk refused one write');
    assert.equal(journal.lastError, null, 'and took the rest');
    await journal.close();

    const ledger = new MemoryLedger({ now: () => 100, sweepIntervalMs: 0 });
    const replayed = await replayJournal({ file, ledger, retentionMs: 35 * DAY, now: () => 100 });
    assert.deepEqual([replayed.records, replayed.skipped], [6, 1], `each line once, the torn half skipped:\n${await readFile(file, 'utf8')}`);
    assert.equal((await ledger.standing([usd]))[0].used, 21);
    await ledger.close();
    await rm(dir, { recursive: true });
  });

  it('a settle whose journal line fails to write ends its hold, counts once in memory, and lands when the disk is back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-journal-settle-'));
    const file = join(dir, 'journal.jsonl');
    let diskBroken = true;
    const writeBytes: WriteBytes = (fd, buffer, offset, length) => {
      if (diskBroken) throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
      return writeSync(fd, buffer, offset, length);
    };
    const journal = await Journal.open({ file, writeBytes });
    const ledger = new MemoryLedger({ journal, sweepIntervalMs: 0 });
    const orRecord = { scopes: ['agent:a'], at: Date.now() };
    assert.equal((await ledger.reserve({ id: 'call', scopes: ['agent:a'], amounts: { usd_micros: 500 }, checks: [usd, slots], leaseMs: DAY })).admitted, true);
    assert.equal(await ledger.settle({ id: 'call', amounts: { usd_micros: 120 }, orRecord }), true);
    await assert.rejects(journal.flush(), /EIO/);
    assert.equal((await ledger.health()).ok, false, 'health says the journal is failing');
    assert.deepEqual(
      (await ledger.standing([usd, slots])).map((one) => [one.used, one.reserved]),
      [
        [120, 0],
        [0, 0],
      ],
      'not orphaned: no hold, no slot; not freed: counted',
    );
    // a caller that retries the settle (its outcome looked unknown) counts nothing again
    assert.equal(await ledger.settle({ id: 'call', amounts: { usd_micros: 120 }, orRecord }), false);
    diskBroken = false;
    await journal.flush();
    assert.equal((await ledger.health()).ok, true);
    await ledger.close();

    const replayedInto = new MemoryLedger({ sweepIntervalMs: 0 });
    await replayJournal({ file, ledger: replayedInto, retentionMs: 35 * DAY });
    assert.equal((await replayedInto.standing([usd]))[0].used, 120, 'the journal holds the charge once');
    await replayedInto.close();
    await rm(dir, { recursive: true });
  });
});
