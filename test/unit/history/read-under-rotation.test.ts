// Readers racing the writer's rotation: every read is one contiguous run of calls, none missing, none twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { readHistoryPage } from '../../../src/history/reader.ts';
import { HistoryWriter } from '../../../src/history/writer.ts';
import { readNewestHistory } from '../../../src/admin/history-tail.ts';
import { seededRandom } from '../../helpers/random.ts';
import { makeEntry, makeTempDir } from './helpers.ts';

const SEED = 20260301;

/** The seq numbers of a read, oldest first; they must be consecutive (a rotation never drops or repeats a generation). */
function assertContiguous(seqs: number[], label: string): void {
  for (let i = 1; i < seqs.length; i++) {
    assert.equal(seqs[i], seqs[i - 1] + 1, `${label}: ${seqs.join(',')}`);
  }
}

test('reads racing rotation see one consistent sequence (seeded)', { timeout: 120_000 }, async () => {
  const { dir, cleanup } = await makeTempDir();
  const random = seededRandom(SEED);
  const lineBytes = Buffer.byteLength(JSON.stringify(makeEntry({ agentId: 'a', seq: 1000 }))) + 1;
  const writer = new HistoryWriter({ dir, maxBytes: lineBytes * 2, onError: (error) => assert.fail(error.message) });
  const seqOf = (entry: { request_id?: string }) => Number(entry.request_id?.slice(4));
  let written = 0;
  let stop = false;
  let writing: Promise<void> = Promise.resolve();
  try {
    writing = (async () => {
      while (!stop) {
        const burst = 1 + Math.floor(random() * 3);
        for (let i = 0; i < burst; i++) writer.append(makeEntry({ agentId: 'a', seq: 1000 + written++ }));
        await writer.flush();
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    for (let round = 0; round < 150; round++) {
      // several readers at once, so some open their two files while the writer renames one over the other
      await Promise.all(
        Array.from({ length: 4 }, async (_, reader) => {
          const forward = await readHistoryPage({ dir, agentId: 'a', limit: 1000 });
          assertContiguous(forward.entries.map(seqOf), `forward read ${round}/${reader} (seed ${SEED})`);
          const back = await readNewestHistory({ dir, agentId: 'a', before: null, limit: 1000 });
          assertContiguous(back.map(seqOf).reverse(), `backward read ${round}/${reader} (seed ${SEED})`);
        }),
      );
    }
    stop = true;
    await writing;
    assert.ok(written > 100, `the writer rotated many times (${written} entries)`);
  } finally {
    stop = true;
    await writing;
    await writer.close();
    await cleanup();
  }
});

test('a rotation between the opens of the two files is detected: neither a generation lost nor one read twice', async () => {
  const fsPromises = createRequire(import.meta.url)('node:fs/promises') as typeof import('node:fs/promises');
  const realOpen = fsPromises.open;
  const { dir, cleanup } = await makeTempDir();
  const folder = join(dir, 'a');
  const line = (seq: number) => `${JSON.stringify(makeEntry({ agentId: 'a', seq }))}\n`;
  const seqOf = (entry: { request_id?: string }) => Number(entry.request_id?.slice(4));
  try {
    await mkdir(folder);
    for (const reader of ['forward', 'backward'] as const) {
      await writeFile(join(folder, 'history.jsonl.1'), line(1));
      await writeFile(join(folder, 'history.jsonl'), line(2));
      // the writer rotates (current → .1, a new current) right before the reader's second open
      let opens = 0;
      fsPromises.open = (async (...args: Parameters<typeof realOpen>) => {
        if (String(args[0]).startsWith(folder) && ++opens === 2) {
          await rename(join(folder, 'history.jsonl'), join(folder, 'history.jsonl.1'));
          await writeFile(join(folder, 'history.jsonl'), line(3));
        }
        return realOpen(...args);
      }) as typeof realOpen;
      syncBuiltinESMExports();
      try {
        const seqs =
          reader === 'forward'
            ? (await readHistoryPage({ dir, agentId: 'a' })).entries.map(seqOf)
            : (await readNewestHistory({ dir, agentId: 'a', before: null, limit: 10 })).map(seqOf).reverse();
        assert.deepEqual(seqs, [2, 3], `${reader} read`);
      } finally {
        fsPromises.open = realOpen;
        syncBuiltinESMExports();
      }
    }
  } finally {
    await cleanup();
  }
});
