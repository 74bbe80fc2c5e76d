// scripts/test-timeouts.js: every test and hook without a timeout of its own gets the default; one that sets its own keeps it.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

it('fails a slow test or hook that has no timeout of its own, and only those', async () => {
  const env: NodeJS.ProcessEnv = { ...process.env, TOLLGATE_TEST_TIMEOUT_MS: '300' };
  delete env.NODE_TEST_CONTEXT;
  const args = ['--import', 'tsx', '--import', './scripts/test-timeouts.js', '--test', '--test-reporter=tap', 'test/unit/scripts/fixtures/slow-tests.ts'];
  const tap = await new Promise<string>((resolve) => {
    // the 30 s bound only keeps a hung run from hanging the suite
    execFile(process.execPath, args, { cwd: ROOT, env, timeout: 30_000 }, (_error, stdout) => resolve(stdout));
  });
  const results = new Map<string, boolean>();
  for (const match of tap.matchAll(/^\s*(ok|not ok) \d+ - (.+)$/gm)) results.set(match[2], match[1] === 'ok');
  assert.equal(results.get('slow without a timeout of its own'), false, tap);
  assert.equal(results.get('slow with a timeout of its own'), true, tap);
  assert.equal(results.get('a top-level test without options'), false, tap);
  assert.equal(results.get('namedByItsFunction'), false, tap);
  assert.equal(results.get('a suite whose after hook is slow'), false, tap);
  assert.match(tap, /test timed out after 300ms/);
  assert.match(tap, /failed running after hook|hook timed out|timed out after 300ms/);
});
