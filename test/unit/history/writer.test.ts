import { test } from 'node:test';
import assert from 'node:assert/strict';
import { access, appendFile, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HistoryWriter } from '../../../src/history/writer.ts';
import { readHistory, readHistoryPage } from '../../../src/history/reader.ts';
import { serializeHistoryEntry } from '../../../src/history/entry.ts';
import { makeEntry, makeTempDir, readLines } from './helpers.ts';

function collectErrors(): { errors: Array<{ message: string; agentId: string }>; onError: (err: Error, agentId: string) => void } {
  const errors: Array<{ message: string; agentId: string }> = [];
  return { errors, onError: (err, agentId) => errors.push({ message: err.message, agentId }) };
}

test('append returns before anything is written; flush makes it visible', async () => {
  const { dir, cleanup } = await makeTempDir();
  try {
    const writer = new HistoryWriter({ dir, maxBytes: 1 << 20 });
    writer.append(makeEntry({ agentId: 'a', seq: 1 }));
    assert.equal(writer.pendingEntries, 1);
    await assert.rejects(access(join(dir, 'a', 'history.jsonl')), 'nothing may be written synchronously');
    await writer.flush();
    assert.equal(writer.pendingEntries, 0);
    const lines = await readLines(join(dir, 'a', 'history.jsonl'));
    assert.equal(lines.length, 1);
    assert.equal(JSON.parse(lines[0]).request_id, 'req-1');
    await writer.close();
  } finally {
    await cleanup();
  }
});

test('1,000 concurrent appends for one agent: every line parses, order preserved', async () => {
  const { dir, cleanup } = await makeTempDir();
  try {
    const writer = new HistoryWriter({ dir, maxBytes: 1 << 30 });
    const entries = Array.from({ length: 1000 }, (_, i) => makeEntry({ agentId: 'solo', seq: i }));
    for (const entry of entries) writer.append(entry);
    await writer.flush();
    const lines = await readLines(join(dir, 'solo', 'history.jsonl'));
    assert.equal(lines.length, 1000);
    lines.forEach((line, i) => assert.equal(line, serializeHistoryEntry(entries[i])));
    await writer.close();
  } finally {
    await cleanup();
  }
});

test('interleaved agents: appends from many async tasks keep per-agent order and never mix files', async () => {
  const { dir, cleanup } = await makeTempDir();
  try {
    const writer = new HistoryWriter({ dir, maxBytes: 1 << 30 });
    const agents = ['alpha', 'beta', 'gamma', 'delta'];
    // appends arrive from concurrent tasks across ticks, while earlier batches are being written
    await Promise.all(
      agents.map(async (agentId) => {
        for (let seq = 0; seq < 250; seq += 1) {
          writer.append(makeEntry({ agentId, seq }));
          if (seq % 7 === 0) await new Promise((resolve) => setImmediate(resolve));
        }
      }),
    );
    await writer.flush();
    for (const agentId of agents) {
      const lines = await readLines(join(dir, agentId, 'history.jsonl'));
      assert.equal(lines.length, 250, agentId);
      lines.forEach((line, i) => {
        const parsed = JSON.parse(line);
        assert.equal(parsed.claw_id, agentId);
        assert.equal(parsed.request_id, `req-${i}`);
      });
    }
    await writer.close();
  } finally {
    await cleanup();
  }
});

test('rotation (spec case 39): maxBytes = length of the first line gives two files, read back oldest first', async () => {
  for (const mode of ['sequential', 'same batch'] as const) {
    const { dir, cleanup } = await makeTempDir();
    try {
      const first = makeEntry({ agentId: 'a', seq: 1 });
      const second = makeEntry({ agentId: 'a', seq: 2 });
      const writer = new HistoryWriter({ dir, maxBytes: Buffer.byteLength(serializeHistoryEntry(first) + '\n') });
      writer.append(first);
      if (mode === 'sequential') await writer.flush();
      writer.append(second);
      await writer.close();
      assert.deepEqual(await readLines(join(dir, 'a', 'history.jsonl.1')), [serializeHistoryEntry(first)], mode);
      assert.deepEqual(await readLines(join(dir, 'a', 'history.jsonl')), [serializeHistoryEntry(second)], mode);
      const read = await readHistory({ dir, agentId: 'a' });
      assert.deepEqual(
        read.map((e) => e.id),
        [first.id, second.id],
        mode,
      );
    } finally {
      await cleanup();
    }
  }
});

test('rotation keeps one generation only and never rotates an empty file', async () => {
  const { dir, cleanup } = await makeTempDir();
  try {
    const writer = new HistoryWriter({ dir, maxBytes: 10 }); // every line is larger than the cap
    for (let seq = 1; seq <= 3; seq += 1) writer.append(makeEntry({ agentId: 'a', seq }));
    await writer.close();
    assert.deepEqual((await readdir(join(dir, 'a'))).sort(), ['history.jsonl', 'history.jsonl.1']);
    assert.equal(JSON.parse((await readLines(join(dir, 'a', 'history.jsonl.1')))[0]).request_id, 'req-2');
    assert.equal(JSON.parse((await readLines(join(dir, 'a', 'history.jsonl')))[0]).request_id, 'req-3');
  } finally {
    await cleanup();
  }
});

test('rotation below the cap: lines accumulate until the next one would pass maxBytes', async () => {
  const { dir, cleanup } = await makeTempDir();
  try {
    const lineBytes = Buffer.byteLength(serializeHistoryEntry(makeEntry({ agentId: 'a', seq: 1 })) + '\n');
    const writer = new HistoryWriter({ dir, maxBytes: lineBytes * 3 });
    for (let seq = 1; seq <= 5; seq += 1) writer.append(makeEntry({ agentId: 'a', seq })); // same length lines
    await writer.close();
    assert.equal((await readLines(join(dir, 'a', 'history.jsonl.1'))).length, 3);
    assert.equal((await readLines(join(dir, 'a', 'history.jsonl'))).length, 2);
    assert.deepEqual(
      (await readHistory({ dir, agentId: 'a' })).map((e) => e.request_id),
      ['req-1', 'req-2', 'req-3', 'req-4', 'req-5'],
    );
  } finally {
    await cleanup();
  }
});

test('a claw_id that is not a plain agent id is refused through onError and nothing is written', async () => {
  const { dir, cleanup } = await makeTempDir();
  try {
    const { errors, onError } = collectErrors();
    const writer = new HistoryWriter({ dir: join(dir, 'hist'), maxBytes: 1 << 20, onError });
    for (const agentId of ['../escape', 'a/b', '.hidden', '', 'a\\b', 'x..y']) {
      writer.append({ ...makeEntry({ agentId: 'ok', seq: 1 }), claw_id: agentId });
    }
    await writer.close();
    assert.equal(errors.length, 6);
    assert.ok(errors.every((e) => /not a plain agent id/.test(e.message)));
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await cleanup();
  }
});

test('append after close is refused through onError', async () => {
  const { dir, cleanup } = await makeTempDir();
  try {
    const { errors, onError } = collectErrors();
    const writer = new HistoryWriter({ dir, maxBytes: 1 << 20, onError });
    writer.append(makeEntry({ agentId: 'a', seq: 1 }));
    await writer.close();
    writer.append(makeEntry({ agentId: 'a', seq: 2 }));
    assert.deepEqual(
      errors.map((e) => e.agentId),
      ['a'],
    );
    assert.match(errors[0].message, /closed/);
    assert.equal((await readLines(join(dir, 'a', 'history.jsonl'))).length, 1, 'close flushed the first entry');
  } finally {
    await cleanup();
  }
});

test('new folders are 0700 and files 0600 (history holds prompts)', async () => {
  const { dir, cleanup } = await makeTempDir();
  try {
    const writer = new HistoryWriter({ dir: join(dir, 'new-root'), maxBytes: 1 << 20 });
    writer.append(makeEntry({ agentId: 'a', seq: 1 }));
    await writer.close();
    assert.equal((await stat(join(dir, 'new-root', 'a'))).mode & 0o777, 0o700);
    assert.equal((await stat(join(dir, 'new-root', 'a', 'history.jsonl'))).mode & 0o777, 0o600);
  } finally {
    await cleanup();
  }
});

test('a torn last line left by a crash is not glued to the next entry', async () => {
  const { dir, cleanup } = await makeTempDir();
  try {
    const earlier = makeEntry({ agentId: 'a', seq: 1 });
    await mkdir(join(dir, 'a'));
    await writeFile(join(dir, 'a', 'history.jsonl'), serializeHistoryEntry(earlier) + '\n{"version":1,"id":"hist1_to');
    const writer = new HistoryWriter({ dir, maxBytes: 1 << 20 });
    writer.append(makeEntry({ agentId: 'a', seq: 2 }));
    await writer.close();
    const page = await readHistoryPage({ dir, agentId: 'a' });
    assert.deepEqual(
      page.entries.map((e) => e.request_id),
      ['req-1', 'req-2'],
    );
    assert.equal(page.skippedLines, 1, 'the torn fragment is now a bad line in the middle');
    assert.equal(page.tornLines, 0);
  } finally {
    await cleanup();
  }
});

test('appending to an existing file continues after its last line', async () => {
  const { dir, cleanup } = await makeTempDir();
  try {
    await mkdir(join(dir, 'a'));
    await appendFile(join(dir, 'a', 'history.jsonl'), serializeHistoryEntry(makeEntry({ agentId: 'a', seq: 1 })) + '\n');
    const writer = new HistoryWriter({ dir, maxBytes: 1 << 20, fsync: true });
    writer.append(makeEntry({ agentId: 'a', seq: 2 }));
    await writer.close();
    const page = await readHistoryPage({ dir, agentId: 'a' });
    assert.deepEqual(
      page.entries.map((e) => e.request_id),
      ['req-1', 'req-2'],
    );
    assert.equal(page.skippedLines + page.tornLines, 0);
  } finally {
    await cleanup();
  }
});

test('a failed write is reported, flush still resolves, and the next entry is written once the cause is gone', async () => {
  const { dir, cleanup } = await makeTempDir();
  try {
    const { errors, onError } = collectErrors();
    await writeFile(join(dir, 'a'), 'not a folder');
    const writer = new HistoryWriter({ dir, maxBytes: 1 << 20, onError });
    writer.append(makeEntry({ agentId: 'a', seq: 1 }));
    writer.append(makeEntry({ agentId: 'b', seq: 1 }));
    await writer.flush();
    assert.equal(errors.length, 1);
    assert.equal(errors[0].agentId, 'a');
    assert.match(errors[0].message, /1 entries lost/);
    assert.equal((await readLines(join(dir, 'b', 'history.jsonl'))).length, 1, 'other agents are unaffected');
    await rm(join(dir, 'a'));
    writer.append(makeEntry({ agentId: 'a', seq: 2 }));
    await writer.close();
    assert.deepEqual(
      (await readHistory({ dir, agentId: 'a' })).map((e) => e.request_id),
      ['req-2'],
    );
  } finally {
    await cleanup();
  }
});

test('maxBytes must be positive', () => {
  assert.throws(() => new HistoryWriter({ dir: '/tmp/x', maxBytes: 0 }), RangeError);
  assert.throws(() => new HistoryWriter({ dir: '/tmp/x', maxBytes: Number.NaN }), RangeError);
});
