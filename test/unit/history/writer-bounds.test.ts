// The history writer's open files and per-agent state stay bounded however many agents write, and reopening keeps every guarantee.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { appendFile, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HistoryWriter } from '../../../src/history/writer.ts';
import { serializeHistoryEntry } from '../../../src/history/entry.ts';
import { makeEntry, makeTempDir, readLines } from './helpers.ts';

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let time = start;
  return {
    now: () => time,
    advance: (ms) => {
      time += ms;
    },
  };
}

test('3,000 agents writing: the writer never holds more than maxOpenFiles files open, and every entry lands', async () => {
  const { dir, cleanup } = await makeTempDir();
  const max = 64;
  const writer = new HistoryWriter({ dir, maxBytes: 1 << 20, maxOpenFiles: max });
  try {
    const baseline = openFds();
    let peakFds = 0;
    let peakOpen = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peakFds = Math.max(peakFds, openFds() - baseline);
        peakOpen = Math.max(peakOpen, writer.openFiles);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    for (let round = 0; round < 2; round++) {
      for (let agent = 0; agent < 3000; agent++) writer.append(makeEntry({ agentId: `agent-${agent}`, seq: round }));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await writer.flush();
    sampling = false;
    await sampler;
    const held = openFds() - baseline;
    assert.ok(writer.openFiles <= max, `open files ${writer.openFiles}`);
    assert.ok(peakOpen <= max, `peak open files ${peakOpen}`);
    // a little room for the libuv/test runner's own descriptors, far below one per agent
    assert.ok(held <= max + 8, `descriptors held after writing for 3,000 agents: ${held}`);
    assert.ok(peakFds <= max + 8, `peak descriptors while writing: ${peakFds}`);
    for (const agent of [0, 1234, 2999]) {
      const lines = await readLines(join(dir, `agent-${agent}`, 'history.jsonl'));
      assert.deepEqual(
        lines.map((line) => JSON.parse(line).request_id),
        ['req-0', 'req-1'],
      );
    }
  } finally {
    await writer.close();
    await cleanup();
  }
});

test('agents idle past idleMs are forgotten and their files closed; nothing is held for them', async () => {
  const { dir, cleanup } = await makeTempDir();
  const clock = manualClock();
  const writer = new HistoryWriter({ dir, maxBytes: 1 << 20, idleMs: 5_000, now: clock.now });
  try {
    const baseline = openFds();
    for (let agent = 0; agent < 200; agent++) writer.append(makeEntry({ agentId: `gone-${agent}`, seq: 1 }));
    await writer.flush();
    assert.equal(writer.agentsHeld, 200);
    assert.equal(writer.openFiles, 200);
    clock.advance(4_000);
    writer.append(makeEntry({ agentId: 'gone-7', seq: 2 })); // one agent stays active
    await writer.flush();
    clock.advance(1_000);
    await writer.closeIdle();
    assert.equal(writer.agentsHeld, 1, 'only the agent active within idleMs is held');
    assert.equal(writer.openFiles, 1);
    clock.advance(5_000);
    await writer.closeIdle();
    assert.equal(writer.agentsHeld, 0);
    assert.equal(writer.openFiles, 0);
    assert.equal(writer.pendingEntries, 0);
    assert.ok(openFds() - baseline <= 2, `descriptors left: ${openFds() - baseline}`);
    // a forgotten agent writes again: a fresh chain, after its earlier lines
    writer.append(makeEntry({ agentId: 'gone-7', seq: 3 }));
    await writer.flush();
    const lines = await readLines(join(dir, 'gone-7', 'history.jsonl'));
    assert.deepEqual(
      lines.map((line) => JSON.parse(line).request_id),
      ['req-1', 'req-2', 'req-3'],
    );
  } finally {
    await writer.close();
    await cleanup();
  }
});

test('the idle timer closes files on its own (small idleMs)', async () => {
  const { dir, cleanup } = await makeTempDir();
  const writer = new HistoryWriter({ dir, maxBytes: 1 << 20, idleMs: 20 });
  try {
    for (let agent = 0; agent < 20; agent++) writer.append(makeEntry({ agentId: `t-${agent}`, seq: 1 }));
    await writer.flush();
    for (let i = 0; i < 1500 && (writer.openFiles > 0 || writer.agentsHeld > 0); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(writer.openFiles, 0);
    assert.equal(writer.agentsHeld, 0);
  } finally {
    await writer.close();
    await cleanup();
  }
});

test('one file slot for many agents: per-agent order kept, lines never mixed, flush and close resolve', async () => {
  const { dir, cleanup } = await makeTempDir();
  const writer = new HistoryWriter({ dir, maxBytes: 1 << 30, maxOpenFiles: 1 });
  try {
    const agents = Array.from({ length: 30 }, (_, index) => `slot-${index}`);
    await Promise.all(
      agents.map(async (agentId, index) => {
        for (let seq = 0; seq < 40; seq++) {
          writer.append(makeEntry({ agentId, seq }));
          if ((seq + index) % 3 === 0) await new Promise((resolve) => setImmediate(resolve));
        }
      }),
    );
    await writer.flush();
    assert.ok(writer.openFiles <= 1);
    for (const agentId of agents) {
      const lines = await readLines(join(dir, agentId, 'history.jsonl'));
      assert.equal(lines.length, 40, agentId);
      lines.forEach((line, seq) => {
        const parsed = JSON.parse(line);
        assert.equal(parsed.claw_id, agentId);
        assert.equal(parsed.request_id, `req-${seq}`);
      });
    }
  } finally {
    await writer.close();
    await cleanup();
  }
  assert.equal(writer.openFiles, 0);
});

test('a file closed while idle is reopened as it stands: a torn line written meanwhile is not glued to the next entry', async () => {
  const { dir, cleanup } = await makeTempDir();
  const clock = manualClock();
  const writer = new HistoryWriter({ dir, maxBytes: 1 << 20, idleMs: 1_000, now: clock.now });
  try {
    const first = makeEntry({ agentId: 'torn', seq: 1 });
    writer.append(first);
    await writer.flush();
    clock.advance(1_000);
    await writer.closeIdle();
    assert.equal(writer.openFiles, 0);
    const file = join(dir, 'torn', 'history.jsonl');
    await appendFile(file, '{"half a line');
    const second = makeEntry({ agentId: 'torn', seq: 2 });
    writer.append(second);
    await writer.flush();
    const text = await readFile(file, 'utf8');
    assert.equal(text, `${serializeHistoryEntry(first)}\n{"half a line\n${serializeHistoryEntry(second)}\n`);
  } finally {
    await writer.close();
    await cleanup();
  }
});

test('rotation after a reopen counts the bytes already in the file (evicted, and forgotten while idle)', async () => {
  for (const how of ['evicted', 'forgotten'] as const) {
    const { dir, cleanup } = await makeTempDir();
    const clock = manualClock();
    const first = makeEntry({ agentId: 'rot', seq: 1 });
    const lineBytes = Buffer.byteLength(serializeHistoryEntry(first) + '\n');
    const writer = new HistoryWriter({ dir, maxBytes: lineBytes, maxOpenFiles: 1, idleMs: 1_000, now: clock.now });
    try {
      writer.append(first);
      await writer.flush();
      if (how === 'evicted') {
        writer.append(makeEntry({ agentId: 'other', seq: 1 })); // takes the only slot: rot's file is closed
        await writer.flush();
      } else {
        clock.advance(1_000);
        await writer.closeIdle();
        assert.equal(writer.agentsHeld, 0);
      }
      const second = makeEntry({ agentId: 'rot', seq: 2 });
      writer.append(second);
      await writer.flush();
      assert.deepEqual(await readLines(join(dir, 'rot', 'history.jsonl.1')), [serializeHistoryEntry(first)], how);
      assert.deepEqual(await readLines(join(dir, 'rot', 'history.jsonl')), [serializeHistoryEntry(second)], how);
    } finally {
      await writer.close();
      await cleanup();
    }
  }
});

test('an agent folder removed while its file was closed is made again (entries are not written to a deleted file)', async () => {
  const { dir, cleanup } = await makeTempDir();
  const clock = manualClock();
  const writer = new HistoryWriter({ dir, maxBytes: 1 << 20, idleMs: 1_000, now: clock.now });
  try {
    writer.append(makeEntry({ agentId: 'removed', seq: 1 }));
    await writer.flush();
    clock.advance(1_000);
    await writer.closeIdle();
    await rm(join(dir, 'removed'), { recursive: true });
    writer.append(makeEntry({ agentId: 'removed', seq: 2 }));
    await writer.flush();
    const lines = await readLines(join(dir, 'removed', 'history.jsonl'));
    assert.deepEqual(
      lines.map((line) => JSON.parse(line).request_id),
      ['req-2'],
    );
    assert.equal((await stat(join(dir, 'removed'))).mode & 0o777, 0o700);
  } finally {
    await writer.close();
    await cleanup();
  }
});
