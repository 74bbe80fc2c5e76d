// The history writer on a disk that cuts a batch part-way and then refuses writes: the loss is reported, the file stays line-parseable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeSync } from 'node:fs';
import { join } from 'node:path';
import { HistoryWriter } from '../../../src/history/writer.ts';
import type { WriteBytes } from '../../../src/ledger/journal/file.ts';
import { makeEntry, makeTempDir, readLines } from './helpers.ts';

test('a batch cut part-way then refused: its entries reported lost, the next entry on a line of its own', async () => {
  const { dir, cleanup } = await makeTempDir();
  let state: 'armed' | 'cut' | 'healthy' = 'armed';
  const writeBytes: WriteBytes = (fd, buffer, offset, length) => {
    if (state === 'armed') {
      state = 'cut';
      return writeSync(fd, buffer, offset, Math.floor(length / 2)); // half the batch lands
    }
    if (state === 'cut') {
      state = 'healthy';
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    }
    return writeSync(fd, buffer, offset, length);
  };
  const errors: string[] = [];
  const writer = new HistoryWriter({ dir, maxBytes: 1 << 20, writeBytes, onError: (error) => errors.push(error.message) });
  try {
    writer.append(makeEntry({ agentId: 'a', seq: 1 }));
    await new Promise((resolve) => setImmediate(resolve)); // entry 1's batch is taken at the end of its turn: 2 goes alone
    writer.append(makeEntry({ agentId: 'a', seq: 2 }));
    await writer.flush(); // entry 1's batch fails; a failed write still lets what waits for it go on
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0], /history write failed, 1 entries lost: ENOSPC/);

    writer.append(makeEntry({ agentId: 'a', seq: 3 }));
    await writer.flush();
    const lines = await readLines(join(dir, 'a', 'history.jsonl'));
    const whole = lines.flatMap((line) => {
      try {
        return [JSON.parse(line) as { request_id: string }];
      } catch {
        return [];
      }
    });
    assert.deepEqual(
      whole.map((entry) => entry.request_id),
      ['req-2', 'req-3'],
      'entry 1 lost (reported), its torn half not glued to the next entry',
    );
    assert.equal(lines.length, 3, 'the torn half of entry 1, then entries 2 and 3');
  } finally {
    await writer.close();
    await cleanup();
  }
});
