import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { clampHistoryLimit, listHistoryAgents, readHistory, readHistoryPage, scanHistory, type BadHistoryLine } from '../../../src/history/reader.ts';
import { serializeHistoryEntry, type HistoryEntry } from '../../../src/history/entry.ts';
import { makeEntry, makeTempDir } from './helpers.ts';

async function writeHistory(dir: string, agentId: string, files: { current?: string[]; rotated?: string[] }): Promise<void> {
  await mkdir(join(dir, agentId), { recursive: true });
  if (files.rotated) await writeFile(join(dir, agentId, 'history.jsonl.1'), files.rotated.join('\n') + '\n');
  if (files.current) await writeFile(join(dir, agentId, 'history.jsonl'), files.current.join('\n') + '\n');
}

const line = (agentId: string, seq: number, startedAt?: number): string => serializeHistoryEntry(makeEntry({ agentId, seq, startedAt }));
const minute = (m: number): number => Date.UTC(2026, 0, 1, 12, m, 0);

test('a torn last line is tolerated silently; a bad line in the middle is skipped and counted', async () => {
  const { dir, cleanup } = await makeTempDir();
  try {
    await mkdir(join(dir, 'a'));
    const text = [line('a', 1), '{bad-json', line('a', 2), '{"version":1,"ts":"2026-01-01T12:0'].join('\n'); // no final newline
    await writeFile(join(dir, 'a', 'history.jsonl'), text);
    const page = await readHistoryPage({ dir, agentId: 'a' });
    assert.deepEqual(
      page.entries.map((e) => e.request_id),
      ['req-1', 'req-2'],
    );
    assert.equal(page.skippedLines, 1);
    assert.equal(page.tornLines, 1);
    assert.deepEqual(
      (await readHistory({ dir, agentId: 'a' })).map((e) => e.request_id),
      ['req-1', 'req-2'],
    );
  } finally {
    await cleanup();
  }
});

test('a torn last line of the rotated file is tolerated too, and lines without a usable ts are skipped', async () => {
  const { dir, cleanup } = await makeTempDir();
  try {
    await writeHistory(dir, 'a', {
      rotated: [line('a', 1), '{"version":1,"id":"hist1_x"'],
      current: ['{"version":1,"ts":"yesterday"}', '[1,2]', line('a', 2)],
    });
    const bad: BadHistoryLine[] = [];
    const entries: HistoryEntry[] = [];
    for await (const entry of scanHistory({ dir, agentId: 'a', onBadLine: (b) => bad.push(b) })) entries.push(entry);
    assert.deepEqual(
      entries.map((e) => e.request_id),
      ['req-1', 'req-2'],
    );
    assert.deepEqual(
      bad.map((b) => [b.file.endsWith('.1'), b.line, b.torn]),
      [
        [true, 2, true],
        [false, 1, false],
        [false, 2, false],
      ],
    );
  } finally {
    await cleanup();
  }
});

test('after is strictly after; limit returns the oldest entries; paging with the last ts walks everything', async () => {
  const { dir, cleanup } = await makeTempDir();
  try {
    await writeHistory(dir, 'a', {
      rotated: [line('a', 0, minute(0)), line('a', 1, minute(1))],
      current: [2, 3, 4, 5, 6].map((m) => line('a', m, minute(m))),
    });
    const after = await readHistory({ dir, agentId: 'a', after: new Date(minute(1)) });
    assert.deepEqual(
      after.map((e) => e.request_id),
      ['req-2', 'req-3', 'req-4', 'req-5', 'req-6'],
    );

    const seen: string[] = [];
    let cursor: Date | null = null;
    for (;;) {
      const page: HistoryEntry[] = await readHistory({ dir, agentId: 'a', after: cursor, limit: 2 });
      if (page.length === 0) break;
      assert.ok(page.length <= 2);
      seen.push(...page.map((e) => e.request_id ?? ''));
      cursor = new Date(page[page.length - 1].ts);
    }
    assert.deepEqual(seen, ['req-0', 'req-1', 'req-2', 'req-3', 'req-4', 'req-5', 'req-6']);
    assert.deepEqual(await readHistory({ dir, agentId: 'a', after: new Date(minute(6)) }), []);
  } finally {
    await cleanup();
  }
});

test('limit defaults to 100 and is clamped to 1,000 as cllama does', async () => {
  assert.equal(clampHistoryLimit(undefined), 100);
  assert.equal(clampHistoryLimit(0), 100);
  assert.equal(clampHistoryLimit(-3), 100);
  assert.equal(clampHistoryLimit(Number.NaN), 100);
  assert.equal(clampHistoryLimit(0.5), 100);
  assert.equal(clampHistoryLimit(7), 7);
  assert.equal(clampHistoryLimit(5000), 1000);
  const { dir, cleanup } = await makeTempDir();
  try {
    await writeHistory(dir, 'a', { current: Array.from({ length: 1200 }, (_, i) => line('a', i)) });
    assert.equal((await readHistory({ dir, agentId: 'a' })).length, 100);
    const most = await readHistory({ dir, agentId: 'a', limit: 5000 });
    assert.equal(most.length, 1000);
    assert.equal(most[999].request_id, 'req-999');
  } finally {
    await cleanup();
  }
});

test('a line without id gets hist1_ + sha256 of the raw line (cllama IDFromJSON); cllama second-precision ts is read', async () => {
  const { dir, cleanup } = await makeTempDir();
  try {
    const seed =
      '{"version":1,"ts":"2026-02-27T12:00:00Z","claw_id":"a","path":"/v1/chat/completions","response":{"format":"json","json":{}},"usage":{"reported_cost_usd":0.5}}';
    await writeHistory(dir, 'a', { current: [seed] });
    const [entry] = await readHistory({ dir, agentId: 'a', after: new Date('2026-02-27T11:59:59Z') });
    assert.equal(entry.id, 'hist1_' + createHash('sha256').update(seed).digest('hex'));
    assert.deepEqual(Object.keys(entry).slice(0, 3), ['version', 'id', 'ts']);
    assert.equal(entry.usage.reported_cost_usd, 0.5);
    assert.equal((await readHistory({ dir, agentId: 'a', after: new Date('2026-02-27T12:00:00Z') })).length, 0);
  } finally {
    await cleanup();
  }
});

test('entries that carry an id keep it', async () => {
  const { dir, cleanup } = await makeTempDir();
  try {
    const entry = makeEntry({ agentId: 'a', seq: 1 });
    await writeHistory(dir, 'a', { current: [serializeHistoryEntry(entry)] });
    assert.deepEqual(await readHistory({ dir, agentId: 'a' }), [JSON.parse(JSON.stringify(entry))]);
  } finally {
    await cleanup();
  }
});

test('an agent without history reads as empty; an agent id that is not plain is refused', async () => {
  const { dir, cleanup } = await makeTempDir();
  try {
    assert.deepEqual(await readHistory({ dir, agentId: 'nobody' }), []);
    assert.deepEqual(await readHistory({ dir: join(dir, 'missing'), agentId: 'nobody' }), []);
    await assert.rejects(readHistory({ dir, agentId: '../etc' }), /invalid agent id/);
  } finally {
    await cleanup();
  }
});

test('listHistoryAgents and scanHistory over all agents: plain names with a history file, by name, rotated file first', async () => {
  const { dir, cleanup } = await makeTempDir();
  try {
    await writeHistory(dir, 'bob', { current: [line('bob', 1)] });
    await writeHistory(dir, 'alice', { rotated: [line('alice', 1)], current: [line('alice', 2)] });
    await writeHistory(dir, 'carol', { rotated: [line('carol', 1)] });
    await mkdir(join(dir, 'empty-agent'));
    await writeHistory(dir, '.hidden', { current: [line('x', 1)] });
    await writeFile(join(dir, 'stray.txt'), 'x');
    assert.deepEqual(await listHistoryAgents(dir), ['alice', 'bob', 'carol']);
    assert.deepEqual(await listHistoryAgents(join(dir, 'missing')), []);
    const all: string[] = [];
    for await (const entry of scanHistory({ dir })) all.push(`${entry.claw_id}:${entry.request_id}`);
    assert.deepEqual(all, ['alice:req-1', 'alice:req-2', 'bob:req-1', 'carol:req-1']);
  } finally {
    await cleanup();
  }
});

test('stopping a read early closes its files', async () => {
  const { dir, cleanup } = await makeTempDir();
  try {
    await writeHistory(dir, 'a', { rotated: [line('a', 0)], current: Array.from({ length: 50 }, (_, i) => line('a', i + 1)) });
    const openDescriptors = async (): Promise<number | null> => (await readdir('/proc/self/fd').catch(() => null))?.length ?? null;
    await readHistory({ dir, agentId: 'a', limit: 1 }); // warm up lazily opened descriptors
    const before = await openDescriptors();
    for (let i = 0; i < 20; i += 1) assert.equal((await readHistory({ dir, agentId: 'a', limit: 1 })).length, 1);
    const after = await openDescriptors();
    if (before !== null && after !== null) assert.ok(after <= before, `descriptors before ${before}, after ${after}`);
  } finally {
    await cleanup();
  }
});
