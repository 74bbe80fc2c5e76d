// Reading history backwards: whole lines across block boundaries, multi-byte text, rotation, `before`, torn lines.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { linesBackward, readNewestHistory } from '../../../src/admin/history-tail.ts';

function line(ts: string, note: string): string {
  return JSON.stringify({
    version: 1,
    id: `hist1_${ts}`,
    ts,
    claw_id: 'a',
    path: '/v1/chat/completions',
    response: { format: 'json', json: { note } },
    usage: {},
  });
}

describe('history tail', () => {
  it('yields every line last first, whole, across 64 KiB blocks and multi-byte characters', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tail-'));
    try {
      const lines = ['first', 'é'.repeat(40_000), 'x'.repeat(70_000), '', 'ü€😀'.repeat(30_000), 'last'];
      const file = join(dir, 'f');
      writeFileSync(file, lines.join('\n') + '\n');
      const handle = await open(file, 'r');
      const seen: string[] = [];
      for await (const text of linesBackward(handle)) seen.push(text);
      await handle.close();
      assert.deepEqual(seen, lines.filter(Boolean).reverse());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the newest entries from the current then the rotated file, before a time, skipping a torn last line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tail-'));
    try {
      mkdirSync(join(dir, 'a'));
      writeFileSync(join(dir, 'a', 'history.jsonl.1'), [line('2026-01-01T00:00:01Z', 'r1'), line('2026-01-01T00:00:02Z', 'r2')].join('\n') + '\n');
      writeFileSync(
        join(dir, 'a', 'history.jsonl'),
        [line('2026-01-01T00:00:03Z', 'c1'), line('2026-01-01T00:00:04Z', 'c2')].join('\n') + '\n{"version":1,"ts":"2026-01-01T00:00:0',
      );
      const notes = async (options: { before?: string; limit: number }) =>
        (await readNewestHistory({ dir, agentId: 'a', before: options.before ? new Date(options.before) : null, limit: options.limit })).map(
          (entry) => (entry.response.json as { note: string }).note,
        );
      assert.deepEqual(await notes({ limit: 10 }), ['c2', 'c1', 'r2', 'r1']);
      assert.deepEqual(await notes({ limit: 3 }), ['c2', 'c1', 'r2']);
      assert.deepEqual(await notes({ limit: 10, before: '2026-01-01T00:00:03Z' }), ['r2', 'r1'], 'strictly before');
      assert.deepEqual(await readNewestHistory({ dir, agentId: 'nobody', before: null, limit: 5 }), []);
      await assert.rejects(readNewestHistory({ dir, agentId: '../a', before: null, limit: 5 }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
