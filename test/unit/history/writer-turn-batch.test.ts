// The history writer batches the lines of calls that finish in separate callbacks of one event-loop turn: one write(2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeSync } from 'node:fs';
import { join } from 'node:path';
import { HistoryWriter } from '../../../src/history/writer.ts';
import type { WriteBytes } from '../../../src/ledger/journal/file.ts';
import { makeEntry, makeTempDir, readLines } from './helpers.ts';

test('calls finishing in separate callbacks of one turn cost one write per agent, in order, each line whole', async () => {
  const { dir, cleanup } = await makeTempDir();
  const writes: number[] = [];
  const writeBytes: WriteBytes = (fd, buffer, offset, length) => {
    writes.push(length);
    return writeSync(fd, buffer, offset, length);
  };
  const writer = new HistoryWriter({ dir, maxBytes: 1 << 20, writeBytes });
  try {
    writer.append(makeEntry({ agentId: 'a', seq: 0 })); // opens both files first: what follows is the steady state
    writer.append(makeEntry({ agentId: 'b', seq: 1 }));
    await writer.flush();
    writes.length = 0;
    // ten callbacks of one check phase, each its own macrotask as socket reads are in the poll phase (an immediate
    // queued while the phase runs waits for the next turn, so the writer's drain comes after all ten)
    await new Promise<void>((done) => {
      for (let seq = 2; seq < 12; seq++) setImmediate(() => writer.append(makeEntry({ agentId: seq % 2 === 0 ? 'a' : 'b', seq })));
      setImmediate(done);
    });
    await writer.flush();
    assert.equal(writes.length, 2, `one write per agent for the turn, got ${writes.length}`);
    const a = (await readLines(join(dir, 'a', 'history.jsonl'))).map((line) => (JSON.parse(line) as { request_id: string }).request_id);
    assert.deepEqual(a, ['req-0', 'req-2', 'req-4', 'req-6', 'req-8', 'req-10']);
  } finally {
    await writer.close();
    await cleanup();
  }
});
