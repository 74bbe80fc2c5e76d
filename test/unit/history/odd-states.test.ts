// History in odd states: pages by ts whatever the file order (ties never split), a rotation that cannot happen, unreadable files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readHistoryPage } from '../../../src/history/reader.ts';
import { HistoryWriter } from '../../../src/history/writer.ts';
import { readNewestHistoryPage } from '../../../src/admin/history-tail.ts';
import { seededRandom } from '../../helpers/random.ts';
import { makeEntry, makeTempDir, readLines } from './helpers.ts';

const SEED = 20260303;

test('paging forward (after) and back (before) by ts sees every entry once, out of file order and with many equal ts (seeded)', async () => {
  const { dir, cleanup } = await makeTempDir();
  const random = seededRandom(SEED);
  try {
    // recorded (file) order = start + latency, as the proxy writes; starts bunch on a few milliseconds
    const calls = Array.from({ length: 120 }, (_, seq) => ({ seq, start: 1_000 + Math.floor(random() * 12), latency: Math.floor(random() * 40) }));
    calls.sort((a, b) => a.start + a.latency - (b.start + b.latency));
    await mkdir(join(dir, 'a'));
    const line = (call: (typeof calls)[number]) =>
      JSON.stringify({ ...makeEntry({ agentId: 'a', seq: call.seq, startedAt: Date.UTC(2026, 0, 1) + call.start }), latency_ms: call.latency });
    await writeFile(join(dir, 'a', 'history.jsonl.1'), calls.slice(0, 50).map(line).join('\n') + '\n');
    await writeFile(join(dir, 'a', 'history.jsonl'), calls.slice(50).map(line).join('\n') + '\n');
    const all = calls.map((call) => `req-${call.seq}`).sort();
    for (let run = 0; run < 20; run++) {
      const forward: string[] = [];
      let after: Date | null = null;
      for (;;) {
        const { entries } = await readHistoryPage({ dir, agentId: 'a', after, limit: 1 + Math.floor(random() * 9) });
        if (entries.length === 0) break;
        forward.push(...entries.map((entry) => entry.request_id!));
        after = new Date(entries.at(-1)!.ts);
      }
      assert.deepEqual(forward.sort(), all, `forward run ${run} (seed ${SEED})`);
      const back: string[] = [];
      let before: Date | null = null;
      for (;;) {
        const limit = 1 + Math.floor(random() * 9);
        const { entries } = await readNewestHistoryPage({ dir, agentId: 'a', before, limit });
        back.push(...entries.map((entry) => entry.request_id!));
        if (entries.length < limit) break;
        before = new Date(entries.at(-1)!.ts);
      }
      assert.deepEqual(back.sort(), all, `backward run ${run} (seed ${SEED})`);
    }
  } finally {
    await cleanup();
  }
});

test('a rotation that fails (a directory where history.jsonl.1 should be) drops no entry: they go on past the cap', async () => {
  const { dir, cleanup } = await makeTempDir();
  const errors: string[] = [];
  try {
    await mkdir(join(dir, 'a', 'history.jsonl.1', 'inside'), { recursive: true });
    const writer = new HistoryWriter({ dir, maxBytes: 600, onError: (error) => errors.push(error.message) });
    for (let seq = 0; seq < 6; seq++) {
      writer.append(makeEntry({ agentId: 'a', seq }));
      await writer.flush();
    }
    await writer.close();
    assert.deepEqual(
      (await readLines(join(dir, 'a', 'history.jsonl'))).map((text) => JSON.parse(text).request_id),
      ['req-0', 'req-1', 'req-2', 'req-3', 'req-4', 'req-5'],
    );
    assert.equal(errors.length, 1, `reported once, retried later: ${errors.join('; ')}`);
    assert.match(errors[0], /rotation failed/);
  } finally {
    await cleanup();
  }
});

test('a directory where a history file should be is read as absent and counted, not an error', async () => {
  const { dir, cleanup } = await makeTempDir();
  try {
    await mkdir(join(dir, 'a', 'history.jsonl'), { recursive: true });
    await writeFile(join(dir, 'a', 'history.jsonl.1'), JSON.stringify(makeEntry({ agentId: 'a', seq: 1 })) + '\n');
    const page = await readHistoryPage({ dir, agentId: 'a' });
    assert.deepEqual([page.entries.map((entry) => entry.request_id), page.unreadableFiles], [['req-1'], 1]);
    const newest = await readNewestHistoryPage({ dir, agentId: 'a', before: null, limit: 5 });
    assert.deepEqual([newest.entries.map((entry) => entry.request_id), newest.unreadableFiles], [['req-1'], 1]);
  } finally {
    await cleanup();
  }
});
