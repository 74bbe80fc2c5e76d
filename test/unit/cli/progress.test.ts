// Start-up progress: a rewritten line on a terminal that never swallows log lines; sparse full lines in a log file.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createReplayProgress } from '../../../src/cli/progress.ts';

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, write: (text: string) => writes.push(text) } as unknown as NodeJS.WriteStream };
}

describe('replay progress', () => {
  it('on a terminal: one line rewritten in place, ended before a log line and at the end', () => {
    let clock = 1000;
    const { writes, stream } = fakeStream(true);
    const progress = createReplayProgress({ stream, now: () => clock });
    clock += 500;
    progress.update({ phase: 'replay', records: 50_000 });
    clock += 50;
    progress.update({ phase: 'replay', records: 60_000 }); // within 100 ms: skipped
    clock += 500;
    progress.update({ phase: 'rebuild', records: 120_000 });
    progress.log('ledger loaded from journal: 120000 records');
    progress.done();
    assert.deepEqual(writes, [
      '\r\x1b[Ktollgate: replaying ledger journal… 50,000 records (100,000/s)',
      '\r\x1b[Ktollgate: rebuilding ledger from history… 120,000 records (114,286/s)',
      '\r\x1b[K',
      'tollgate: ledger loaded from journal: 120000 records\n',
    ]);
  });

  it('in a log: quiet for a quick start, then at most a line every 5 s', () => {
    let clock = 0;
    const { writes, stream } = fakeStream(false);
    const progress = createReplayProgress({ stream, now: () => clock });
    progress.update({ records: 0 });
    clock = 1000;
    progress.update({ records: 10 });
    clock = 2500;
    progress.update({ records: 500_000 });
    clock = 4000;
    progress.update({ records: 700_000 });
    clock = 8000;
    progress.update({ records: 1_000_000 });
    progress.done();
    assert.deepEqual(writes, ['tollgate: replaying ledger journal… 500,000 records\n', 'tollgate: replaying ledger journal… 1,000,000 records\n']);
  });
});
