// `npm test`: the pre-test step, then (whole suite only) the static checks, then every *.test.ts under test/ (or the paths given).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { pretestOrExit } from './pretest.js';
import { STATIC_CHECKS } from './static-checks.js';

/**
 * Node 20's --test-timeout bounds each test file as a whole: it ends a file kept alive by something it left open
 * (a child process, a server) after all its tests are done. Every test and hook has its own 60 s bound
 * (scripts/test-timeouts.js); the slowest file took ~30 s on a shared 2-core machine.
 */
const FILE_TIMEOUT_MS = 180_000;

function collect(path, out) {
  if (statSync(path).isDirectory()) {
    for (const name of readdirSync(path).sort()) collect(join(path, name), out);
  } else if (path.endsWith('.test.ts')) {
    out.push(path);
  }
  return out;
}

/** Runs a command to its end; resolves with its exit code (a signal counts as failure). */
function run(command, args, env) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'inherit', env });
    const forward = (signal) => child.kill(signal);
    process.on('SIGINT', forward).on('SIGTERM', forward);
    child.once('exit', (code) => {
      process.off('SIGINT', forward).off('SIGTERM', forward);
      resolve(code ?? 1);
    });
  });
}

const roots = process.argv.slice(2);
const files = (roots.length ? roots : ['test']).flatMap((root) => collect(root, []));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}

const prepared = await pretestOrExit();
const env = { ...process.env, ...prepared.env };
delete env.NODE_TEST_CONTEXT; // started from inside a test (its own test does), it still reports as a runner of its own
let status = 0;
if (roots.length === 0) {
  for (const check of STATIC_CHECKS) {
    console.log(`== ${check.name}: ${check.what}`);
    status = await run(process.execPath, check.args, env);
    if (status !== 0) break;
  }
}
if (status === 0) {
  const testArgs = [
    '--import',
    'tsx',
    '--import',
    './scripts/test-timeouts.js',
    '--test',
    '--test-concurrency=2',
    `--test-timeout=${FILE_TIMEOUT_MS}`,
    ...files,
  ];
  status = await run(process.execPath, testArgs, env);
}
await prepared.stop();
process.exit(status);
