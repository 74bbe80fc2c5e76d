// bin/ts-hooks.js: the proxy's TypeScript loads without keepNames, its transforms kept in a private cache and no other.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../../bin/tollgate.js', import.meta.url));

/** `tollgate --help` with the given cache folder: what it printed. */
function help(cacheDir: string): string {
  return execFileSync(process.execPath, [BIN, '--help'], { env: { ...process.env, TOLLGATE_TS_CACHE: cacheDir }, encoding: 'utf8' });
}

describe('the TypeScript module hooks', () => {
  it('load the CLI, keep each transform in a private cache, and read it back the next time', () => {
    const root = mkdtempSync(join(tmpdir(), 'ts-hooks-'));
    try {
      const cache = join(root, 'cache');
      assert.match(help(cache), /Usage: tollgate/);
      const files = readdirSync(cache);
      assert.ok(files.length > 10, `one transform per module loaded, got ${files.length}`);
      assert.equal(statSync(cache).mode & 0o777, 0o700);
      const sample = readFileSync(join(cache, files[0]), 'utf8');
      assert.doesNotMatch(sample, /__name\(/, 'no keepNames wrappers');
      assert.match(sample, /sourceMappingURL=data:/, 'inline source maps');
      assert.match(help(cache), /Usage: tollgate/);
      assert.deepEqual(readdirSync(cache).sort(), files.sort(), 'the second start wrote nothing new');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('do not use a cache folder that others can write to (code could be planted there)', () => {
    const root = mkdtempSync(join(tmpdir(), 'ts-hooks-'));
    try {
      const cache = join(root, 'shared');
      mkdirSync(cache);
      chmodSync(cache, 0o777);
      assert.match(help(cache), /Usage: tollgate/);
      assert.deepEqual(readdirSync(cache), []);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
