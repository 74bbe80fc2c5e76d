// `npm run bench`: proxy overhead against a direct call to the fake upstream, budgets on and off, JSON and stream, c=1 and c=32.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { median, runLoad, type LoadResult } from './load.ts';
import { freePort, startProxyProcess } from '../test/helpers/process.ts';

const runs = Number(process.env.BENCH_RUNS ?? 3);
const durationMs = Number(process.env.BENCH_DURATION_MS ?? 3000);
const concurrencies = (process.env.BENCH_CONCURRENCY ?? '1,32').split(',').map(Number);

async function startFake(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL('./fake-upstream-server.ts', import.meta.url).pathname], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
  return { child, url: line.trim() };
}

const fake = await startFake();
const root = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
for (const [id, budget] of [['open', undefined], ['governed', { limit_usd: 1_000_000, max_requests: 1_000_000_000, window: '1h', behavior: 'hard_stop' }]] as const) {
  mkdirSync(join(root, 'context', id), { recursive: true });
  writeFileSync(join(root, 'context', id, 'metadata.json'), JSON.stringify({ token: `${id}:secret`, ...(budget ? { budget } : {}) }));
}
mkdirSync(join(root, 'auth'));
writeFileSync(join(root, 'auth', 'providers.json'), JSON.stringify({ providers: { openai: { base_url: `${fake.url}/v1`, api_key: 'sk-bench', auth: 'bearer' } } }));
const proxy = await startProxyProcess({
  port: await freePort(),
  env: { CLAW_CONTEXT_ROOT: join(root, 'context'), CLAW_AUTH_DIR: join(root, 'auth'), CLAW_SESSION_HISTORY_DIR: join(root, 'history') },
});
// the audit log goes to the child's stdout pipe; keep draining it so it never blocks
proxy.child.stdout?.resume();

const body = (stream: boolean, model: string) => JSON.stringify({ model, stream, max_tokens: 32, messages: [{ role: 'user', content: 'Say something short.' }] });
const targets = [
  { name: 'direct', url: fake.url, headers: { authorization: 'Bearer sk-bench' }, model: 'gpt-4o' },
  { name: 'proxy, no budget', url: proxy.url, headers: { authorization: 'Bearer open:secret' }, model: 'openai/gpt-4o' },
  { name: 'proxy, budget on', url: proxy.url, headers: { authorization: 'Bearer governed:secret' }, model: 'openai/gpt-4o' },
];

interface Row { mode: string; concurrency: number; target: string; result: LoadResult }
const rows: Row[] = [];
for (const stream of [false, true]) {
  for (const concurrency of concurrencies) {
    for (const target of targets) {
      const samples: LoadResult[] = [];
      await runLoad({ url: target.url, path: '/v1/chat/completions', headers: { ...target.headers, 'content-type': 'application/json' }, body: body(stream, target.model), concurrency, durationMs: 500 });
      for (let i = 0; i < runs; i++) {
        samples.push(await runLoad({ url: target.url, path: '/v1/chat/completions', headers: { ...target.headers, 'content-type': 'application/json' }, body: body(stream, target.model), concurrency, durationMs }));
      }
      const result: LoadResult = {
        requests: median(samples.map((s) => s.requests)),
        errors: samples.reduce((sum, s) => sum + s.errors, 0),
        rps: median(samples.map((s) => s.rps)),
        p50Ms: median(samples.map((s) => s.p50Ms)),
        p99Ms: median(samples.map((s) => s.p99Ms)),
      };
      rows.push({ mode: stream ? 'stream' : 'json', concurrency, target: target.name, result });
      process.stderr.write(`${stream ? 'stream' : 'json'} c=${concurrency} ${target.name}: ${result.rps.toFixed(0)} rps p50 ${result.p50Ms.toFixed(2)} ms p99 ${result.p99Ms.toFixed(2)} ms errors ${result.errors}\n`);
    }
  }
}

await proxy.stop();
fake.child.kill('SIGTERM');
rmSync(root, { recursive: true, force: true });

const fmt = (n: number, digits = 2) => n.toFixed(digits);
console.log(`\nmachine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}; ${runs} runs × ${durationMs} ms each, medians\n`);
console.log('| mode | c | target | rps | p50 ms | p99 ms | rps vs direct | added p50 ms |');
console.log('|---|---|---|---|---|---|---|---|');
for (const row of rows) {
  const direct = rows.find((r) => r.mode === row.mode && r.concurrency === row.concurrency && r.target === 'direct')!.result;
  console.log(`| ${row.mode} | ${row.concurrency} | ${row.target} | ${fmt(row.result.rps, 0)} | ${fmt(row.result.p50Ms)} | ${fmt(row.result.p99Ms)} | ${fmt(row.result.rps / direct.rps)} | ${fmt(row.result.p50Ms - direct.p50Ms)} |`);
}
for (const mode of ['json', 'stream']) {
  for (const concurrency of concurrencies) {
    const on = rows.find((r) => r.mode === mode && r.concurrency === concurrency && r.target === 'proxy, budget on')!.result;
    const off = rows.find((r) => r.mode === mode && r.concurrency === concurrency && r.target === 'proxy, no budget')!.result;
    console.log(`budget on / off, ${mode} c=${concurrency}: ${fmt(on.rps / off.rps)}`);
  }
}
