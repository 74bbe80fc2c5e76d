// Promises, ticks, timers and immediates a proxied call makes (async_hooks in the proxy): a count, not a time, so the same on a busy machine.
//   node bin/run-ts.js bench/async-per-call.ts [other tree ...]      e.g. a checkout of main, to compare
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freePort, startProxyProcess } from '../test/helpers/process.ts';
import { runLoad } from './load.ts';
import { requestOf, writeBenchConfig } from './setup.ts';

const PRELOAD = fileURLToPath(new URL('./async-count-preload.js', import.meta.url));
const trees = [resolve(fileURLToPath(new URL('..', import.meta.url))), ...process.argv.slice(2).map((tree) => resolve(tree))];
const MODES = ['json', 'stream'] as const;
const AGENTS = [
  ['open', 'no budget'],
  ['governed', 'budget on'],
] as const;
const KINDS = ['PROMISE', 'TickObject', 'Timeout', 'Immediate'] as const;
const CONCURRENCY = 32;

type Counts = Record<string, number>;

const fake = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./fake-upstream-server.ts', import.meta.url))], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const fakeUrl = (await new Promise<string>((done) => createInterface({ input: fake.stdout! }).once('line', done))).trim();
const rows: string[] = [];
try {
  for (const tree of trees) {
    const root = mkdtempSync(join(tmpdir(), 'tollgate-async-'));
    writeBenchConfig({ root, upstreamUrl: fakeUrl });
    const out = join(root, 'counts.json');
    const proxy = await startProxyProcess({
      port: await freePort(),
      bin: join(tree, 'bin', 'tollgate.js'),
      nodeArgs: ['--import', PRELOAD],
      env: {
        ASYNC_COUNT_OUT: out,
        CLAW_CONTEXT_ROOT: join(root, 'context'),
        CLAW_AUTH_DIR: join(root, 'auth'),
        CLAW_SESSION_HISTORY_DIR: join(root, 'history'),
      },
    });
    const snapshot = async (): Promise<Counts> => {
      proxy.child.kill('SIGUSR2');
      await new Promise((done) => setTimeout(done, 200));
      return JSON.parse(readFileSync(out, 'utf8')) as Counts;
    };
    try {
      for (const mode of MODES) {
        for (const [agent, label] of AGENTS) {
          const request = requestOf(mode, 'openai/gpt-4o');
          const load = (durationMs: number) =>
            runLoad({
              url: proxy.url,
              ...request,
              headers: { authorization: `Bearer ${agent}:secret`, 'content-type': 'application/json' },
              concurrency: CONCURRENCY,
              durationMs,
            });
          await load(2000); // warm-up
          const before = await snapshot();
          await load(3000);
          const after = await snapshot();
          const calls = after.requests - before.requests;
          const per = KINDS.map((kind) => ((after[kind] ?? 0) - (before[kind] ?? 0)) / calls);
          rows.push(`| ${tree} | ${mode} | ${label} | ${calls} | ${per.map((n) => n.toFixed(1)).join(' | ')} |`);
        }
      }
    } finally {
      await proxy.stop();
    }
  }
} finally {
  fake.kill();
}
console.log(`\nasync resources made per call (c=${CONCURRENCY}, ${CONCURRENCY} at a time for 3 s after a 2 s warm-up)\n`);
console.log(`| tree | mode | agent | calls | ${KINDS.join(' | ')} |`);
console.log(`|---|---|---|---|${KINDS.map(() => '---').join('|')}|`);
for (const row of rows) console.log(row);
