import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_JSON_FILE_BYTES, readJsonFile, readJsonFileSync } from '../../../src/config/json-file.ts';

function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-json-'));
  return run(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

test('regular files only, bounded: a FIFO, a device, a loop, a directory and an oversized file are problems, never a hang or a huge read', () =>
  withDir(async (dir) => {
    execFileSync('mkfifo', [join(dir, 'fifo.json')]);
    symlinkSync('/dev/zero', join(dir, 'zero.json'));
    symlinkSync(join(dir, 'loop.json'), join(dir, 'loop.json'));
    mkdirSync(join(dir, 'dir.json'));
    writeFileSync(join(dir, 'big.json'), JSON.stringify({ pad: 'x'.repeat(MAX_JSON_FILE_BYTES) }));
    writeFileSync(join(dir, 'ok.json'), '{"token":"a:s"}');
    const cases: Record<string, RegExp | 'missing' | 'ok'> = {
      'fifo.json': /not a regular file/,
      'zero.json': /not a regular file/,
      'loop.json': /ELOOP/,
      'dir.json': /not a regular file|EISDIR/,
      'big.json': /too large/,
      'ok.json': 'ok',
      'absent.json': 'missing',
    };
    for (const [name, want] of Object.entries(cases)) {
      for (const read of [await readJsonFile(join(dir, name)), readJsonFileSync(join(dir, name))]) {
        if (want === 'ok' || want === 'missing') assert.equal(read.kind, want, name);
        else assert.ok(read.kind === 'error' && want.test(read.problem), `${name}: ${JSON.stringify(read)}`);
      }
    }
  }));

test('a file that grows while it is read is read whole, up to the limit', () =>
  withDir(async (dir) => {
    const file = join(dir, 'growing.json');
    writeFileSync(file, '');
    const writer = await open(file, 'a');
    const text = JSON.stringify({ token: 'a:s', pad: 'y'.repeat(100_000) });
    const reading = readJsonFile(file);
    await writer.write(text);
    await writer.close();
    const read = await reading;
    // either the empty file it was, or all of what it became: never a cut
    assert.ok(
      (read.kind === 'error' && /empty/.test(read.problem)) || (read.kind === 'ok' && (read.value as { pad: string }).pad.length === 100_000),
      JSON.stringify(read).slice(0, 200),
    );
  }));
