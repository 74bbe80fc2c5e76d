import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scanHistory, type BadHistoryLine } from '../../../src/history/reader.ts';
import { makeTempDir } from './helpers.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../../..');

test('kill -9 right after a flush leaves a readable file holding every flushed entry in order', { timeout: 120_000 }, async () => {
  const { dir, cleanup } = await makeTempDir();
  try {
    const flushed = 300;
    const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'fixtures', 'append-until-killed.ts'), dir, String(flushed)], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    const exited = once(child, 'exit');
    await new Promise<void>((resolveFlushed, reject) => {
      child.stdout.on('data', (chunk: string) => {
        stdout += chunk;
        if (stdout.includes('flushed\n')) resolveFlushed();
      });
      child.once('exit', (code) => reject(new Error(`fixture exited (${code}) before flushing: ${stderr}`)));
    });
    child.kill('SIGKILL');
    const [code, signal] = await exited;
    assert.equal(signal, 'SIGKILL', `exit code ${code}`);

    const raw = await readFile(join(dir, 'crash', 'history.jsonl'), 'utf8');
    const lines = raw.split('\n');
    const last = lines.pop() as string; // '' when the file ends in a newline, else the torn tail
    for (const line of lines) JSON.parse(line); // every complete line parses

    const bad: BadHistoryLine[] = [];
    const ids: string[] = [];
    for await (const entry of scanHistory({ dir, agentId: 'crash', onBadLine: (b) => bad.push(b) })) ids.push(entry.request_id ?? '');
    assert.ok(ids.length >= flushed, `only ${ids.length} entries survived`);
    ids.forEach((id, i) => assert.equal(id, `req-${i}`));
    assert.ok(
      bad.every((b) => b.torn),
      'only a torn last line may be unreadable',
    );
    assert.equal(bad.length, last === '' ? 0 : 1);
  } finally {
    await cleanup();
  }
});
