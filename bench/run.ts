// `npm run bench`: proxy overhead against a direct call to the fake upstream, budgets on and off, JSON, stream and /v1/responses, c=1 and c=32; the loop breaker's cost per call.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort, startProxyProcess, type RunningProxy } from '../test/helpers/process.ts';
import { median, runLoad, type LoadResult } from './load.ts';
import { cpuSince, cpuTimeOf, type CpuTime } from './proc-cpu.ts';
import { requestOf, seedJournal, writeBenchConfig } from './setup.ts';
import { loopCostRows, sharedLoopCostRows } from './loop-cost.ts';

const runs = Number(process.env.BENCH_RUNS ?? 5);
const durationMs = Number(process.env.BENCH_DURATION_MS ?? 2000);
const concurrencies = (process.env.BENCH_CONCURRENCY ?? '1,32').split(',').map(Number);
// `responses`: POST /v1/responses (JSON), the Responses API's row
const modes = (process.env.BENCH_MODES ?? 'json,stream,responses').split(',');
// BENCH_HISTORY=0,100000,1000000: journal records pre-seeded in the governed agent's window ('none' skips that part)
const historySizes = (process.env.BENCH_HISTORY ?? '0,100000,1000000')
  .split(',')
  .filter((size) => size !== 'none')
  .map(Number);
// BENCH_PROFILE=1: the proxy writes a V8 CPU profile on exit (read it with bench/profile-summary.ts)
const envList = (text: string | undefined) =>
  Object.fromEntries(
    (text ?? '')
      .split(',')
      .filter(Boolean)
      .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
  );
const proxyEnv = envList(process.env.BENCH_PROXY_ENV);
// BENCH_BASELINE_ENV, BENCH_BASELINE_NODE_ARGS: the same for the baseline proxy (BENCH_BASELINE=. with different envs compares two settings)
const baselineEnv = envList(process.env.BENCH_BASELINE_ENV);
const profileDir = process.env.BENCH_PROFILE ? resolve(process.env.BENCH_PROFILE_DIR ?? 'bench/profiles') : null;

// BENCH_BASELINE=<another checkout>: its proxy runs beside this one, targets `base-no-budget` and `base-budget-on` (A/B)
const baselineDir = process.env.BENCH_BASELINE ? resolve(process.env.BENCH_BASELINE) : null;

type Via = 'direct' | 'floor' | 'governed-floor' | 'proxy' | 'base';
interface Target {
  readonly key: string;
  readonly name: string;
  readonly via: Via;
  readonly auth: string;
  readonly model: string;
}
const TARGETS: readonly Target[] = [
  { key: 'direct', name: 'direct', via: 'direct', auth: 'Bearer sk-bench', model: 'gpt-4o' },
  { key: 'floor', name: 'bare node relay', via: 'floor', auth: 'Bearer open:secret', model: 'gpt-4o' },
  // governed-floor: the bare relay plus the least a governing proxy must do per call (bench/floor-governed.ts)
  { key: 'governed-floor', name: 'governed floor', via: 'governed-floor', auth: 'Bearer governed:secret', model: 'gpt-4o' },
  { key: 'no-budget', name: 'proxy, no budget', via: 'proxy', auth: 'Bearer open:secret', model: 'openai/gpt-4o' },
  { key: 'budget-on', name: 'proxy, budget on', via: 'proxy', auth: 'Bearer governed:secret', model: 'openai/gpt-4o' },
  { key: 'policy-on', name: 'proxy, budget + model policy', via: 'proxy', auth: 'Bearer policied:secret', model: 'openai/gpt-4o' },
  { key: 'loop-guarded', name: 'proxy, budget + refusing loop policy', via: 'proxy', auth: 'Bearer guarded:secret', model: 'openai/gpt-4o' },
  { key: 'base-no-budget', name: 'baseline, no budget', via: 'base', auth: 'Bearer open:secret', model: 'openai/gpt-4o' },
  { key: 'base-budget-on', name: 'baseline, budget on', via: 'base', auth: 'Bearer governed:secret', model: 'openai/gpt-4o' },
  { key: 'base-loop-guarded', name: 'baseline, budget + refusing loop policy', via: 'base', auth: 'Bearer guarded:secret', model: 'openai/gpt-4o' },
];
// BENCH_TARGETS=direct,budget-on picks and orders the targets (for profiling one of them)
const defaultTargets = baselineDir ? 'direct,no-budget,base-no-budget,budget-on,base-budget-on' : 'direct,floor,governed-floor,no-budget,budget-on';
const chosen = (process.env.BENCH_TARGETS ?? defaultTargets).split(',').map(targetByKey);

function targetByKey(key: string): Target {
  const target = TARGETS.find((t) => t.key === key);
  if (!target) throw new Error(`BENCH_TARGETS: no target '${key}' (targets: ${TARGETS.map((t) => t.key).join(', ')})`);
  return target;
}
type Endpoints = Partial<Record<Via, { readonly url: string; readonly pid?: number }>>;

/** One measured run, with the proxy's and the fake upstream's CPU per request. */
interface Sample extends LoadResult {
  readonly proxyMainUs: number | null;
  readonly proxyProcessUs: number | null;
}
interface Row {
  readonly mode: string;
  readonly concurrency: number;
  readonly target: Target;
  readonly samples: Sample[];
}

/** Starts a bench helper script as its own process; it prints its URL on its first stdout line. */
async function startHelper(script: string, args: string[] = []): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL(script, import.meta.url).pathname, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((done) => createInterface({ input: child.stdout! }).once('line', done));
  return { child, url: line.trim() };
}

async function startProxy(
  root: string,
  bin?: string,
  env: Record<string, string> = proxyEnv,
  nodeArgs = process.env.BENCH_NODE_ARGS,
): Promise<{ proxy: RunningProxy; readyMs: number | null; ledgerLine: string }> {
  const proxy = await startProxyProcess({
    port: await freePort(),
    // the audit log goes to a pipe read by a process of its own, as a container runtime's log collector reads it
    stdout: logSink.stdin!,
    bin,
    // BENCH_NODE_ARGS: extra node flags for the proxy, e.g. --perf-basic-prof to read it with `perf record -p <pid>`
    nodeArgs: [...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), ...(nodeArgs?.split(' ').filter(Boolean) ?? [])],
    // BENCH_PROXY_ENV=K=V,K2=V2: extra environment for the proxy (e.g. UV_USE_IO_URING=1)
    env: { ...env, CLAW_CONTEXT_ROOT: join(root, 'context'), CLAW_AUTH_DIR: join(root, 'auth'), CLAW_SESSION_HISTORY_DIR: join(root, 'history') },
  });
  for (let i = 0; i < 100 && !/ready in \d+ ms/.test(proxy.stderr()); i++) await new Promise((done) => setTimeout(done, 20));
  const stderr = proxy.stderr();
  const ready = /ready in (\d+) ms/.exec(stderr);
  const ledgerLine = /ledger loaded[^\n]*/.exec(stderr)?.[0] ?? '';
  process.stderr.write(`proxy pid ${proxy.child.pid} on ${proxy.url}\n`);
  return { proxy, readyMs: ready ? Number(ready[1]) : null, ledgerLine };
}

async function measure(input: { target: Target; endpoints: Endpoints; mode: string; concurrency: number; durationMs: number }): Promise<Sample> {
  const { target } = input;
  const endpoint = input.endpoints[target.via]!;
  const load = {
    url: endpoint.url,
    ...requestOf(input.mode, target.model),
    headers: { authorization: target.auth, 'content-type': 'application/json' },
    concurrency: input.concurrency,
    durationMs: input.durationMs,
  };
  const before: CpuTime | null = cpuTimeOf(endpoint.pid);
  const result = await runLoad(load);
  const cpu = cpuSince(before, cpuTimeOf(endpoint.pid));
  const per = (ms: number | undefined) => (ms === undefined || result.requests === 0 ? null : (ms * 1000) / result.requests);
  return { ...result, proxyMainUs: per(cpu?.mainMs), proxyProcessUs: per(cpu?.processMs) };
}

/**
 * Targets take turns run by run, so a burst of load from elsewhere on the machine hits them alike; every other run
 * goes in reverse order, since a target measured right after another pays for the work that one left behind (an
 * A/A comparison in a fixed order read 0.80 rps).
 */
async function measureInterleaved(input: { targets: readonly Target[]; endpoints: Endpoints; mode: string; concurrency: number }): Promise<Sample[][]> {
  for (const target of input.targets) await measure({ ...input, target, durationMs: 500 }); // warm-up
  const samples: Sample[][] = input.targets.map(() => []);
  const order = [...input.targets.keys()];
  for (let run = 0; run < runs; run++) {
    for (const index of run % 2 === 0 ? order : [...order].reverse()) {
      samples[index].push(await measure({ ...input, target: input.targets[index], durationMs }));
    }
  }
  return samples;
}

const med = (values: (number | null)[]): number | null => {
  const present = values.filter((value): value is number => value !== null && Number.isFinite(value));
  return present.length > 0 ? median(present) : null;
};
/** Median over runs of a per-run ratio (run i of one target against run i of another). */
const medianRatio = (a: Sample[], b: Sample[], pick: (s: Sample) => number): number | null =>
  med(a.map((sample, i) => (b[i] ? pick(sample) / pick(b[i]) : null)));
const fmt = (n: number | null, digits = 2) => (n === null ? '-' : n.toFixed(digits));

const fake = await startHelper('./fake-upstream-server.ts');
// BENCH_AUDIT_OUT=<file> keeps the audit stream (to count lines per call), else it goes to /dev/null
const logSink = spawn('sh', ['-c', 'cat > "$AUDIT_OUT"'], {
  stdio: ['pipe', 'ignore', 'inherit'],
  env: { ...process.env, AUDIT_OUT: process.env.BENCH_AUDIT_OUT ?? '/dev/null' },
});
// the floor any Node proxy stands on: node:http in, undici out, nothing parsed (only started when a target uses it)
const floor = chosen.some((target) => target.via === 'floor') ? await startHelper('./floor-proxy.ts', [fake.url]) : null;
const floorHistoryDir = mkdtempSync(join(tmpdir(), 'tollgate-bench-floor-'));
const governedFloor = chosen.some((target) => target.via === 'governed-floor')
  ? await startHelper('./floor-governed.ts', [fake.url, join(floorHistoryDir, 'history.jsonl')])
  : null;
const rows: Row[] = [];
const replay: {
  records: number;
  readyMs: number | null;
  ledgerLine: string;
  onRps: number | null;
  offRps: number | null;
  ratio: number | null;
  mainUs: number | null;
}[] = [];
try {
  const root = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
  try {
    writeBenchConfig({ root, upstreamUrl: fake.url });
    const { proxy } = await startProxy(root);
    const baseRoot = baselineDir ? mkdtempSync(join(tmpdir(), 'tollgate-bench-base-')) : null;
    if (baseRoot) writeBenchConfig({ root: baseRoot, upstreamUrl: fake.url });
    const base = baseRoot
      ? (await startProxy(baseRoot, join(baselineDir!, 'bin', 'tollgate.js'), baselineEnv, process.env.BENCH_BASELINE_NODE_ARGS)).proxy
      : null;
    const endpoints: Endpoints = {
      direct: { url: fake.url },
      ...(floor ? { floor: { url: floor.url, pid: floor.child.pid } } : {}),
      ...(governedFloor ? { 'governed-floor': { url: governedFloor.url, pid: governedFloor.child.pid } } : {}),
      proxy: { url: proxy.url, pid: proxy.child.pid },
      ...(base ? { base: { url: base.url, pid: base.child.pid } } : {}),
    };
    try {
      for (const mode of modes) {
        for (const concurrency of concurrencies) {
          const samples = await measureInterleaved({ targets: chosen, endpoints, mode, concurrency });
          chosen.forEach((target, index) => {
            rows.push({ mode, concurrency, target, samples: samples[index] });
            const s = samples[index];
            process.stderr.write(
              `${mode} c=${concurrency} ${target.name}: ${fmt(med(s.map((x) => x.rps)), 0)} rps, p50 ${fmt(med(s.map((x) => x.p50Ms)))} ms, proxy main thread ${fmt(med(s.map((x) => x.proxyMainUs)), 0)} µs/request\n`,
            );
          });
        }
      }
    } finally {
      await proxy.stop();
      await base?.stop();
      if (baseRoot) rmSync(baseRoot, { recursive: true, force: true });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }

  // Budget check cost against history size, end to end: the governed agent's window pre-seeded in the ledger journal.
  const pair = ['budget-on', 'no-budget'].map((key) => TARGETS.find((target) => target.key === key)!);
  for (const records of historySizes) {
    const seededRoot = mkdtempSync(join(tmpdir(), 'tollgate-bench-history-'));
    try {
      writeBenchConfig({ root: seededRoot, upstreamUrl: fake.url });
      if (records > 0)
        await seedJournal({ file: join(seededRoot, 'history', '_ledger', 'journal.jsonl'), records, scope: 'agent:governed', windowMs: 3_600_000 });
      const { proxy, readyMs, ledgerLine } = await startProxy(seededRoot);
      try {
        const [on, off] = await measureInterleaved({
          targets: pair,
          endpoints: { direct: { url: fake.url }, proxy: { url: proxy.url, pid: proxy.child.pid } },
          mode: 'json',
          concurrency: 32,
        });
        const entry = {
          records,
          readyMs,
          ledgerLine,
          onRps: med(on.map((s) => s.rps)),
          offRps: med(off.map((s) => s.rps)),
          ratio: medianRatio(on, off, (s) => s.rps),
          mainUs: med(on.map((s) => s.proxyMainUs)),
        };
        replay.push(entry);
        process.stderr.write(
          `history ${records}: ready in ${readyMs} ms (${ledgerLine}); budget on ${fmt(entry.onRps, 0)} rps, off ${fmt(entry.offRps, 0)} rps\n`,
        );
      } finally {
        await proxy.stop();
      }
    } finally {
      rmSync(seededRoot, { recursive: true, force: true });
    }
  }
} finally {
  fake.child.kill('SIGTERM');
  floor?.child.kill('SIGTERM');
  governedFloor?.child.kill('SIGTERM');
  rmSync(floorHistoryDir, { recursive: true, force: true });
  logSink.stdin!.end();
}
if (profileDir) process.stderr.write(`proxy CPU profiles written to ${profileDir}\n`);

console.log(`\nmachine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}; ${runs} interleaved runs × ${durationMs} ms each, medians`);
console.log("(ratios are medians of per-run ratios; proxy CPU is the proxy main thread's CPU time per request, and in brackets all its threads)\n");
console.log('| mode | c | target | rps | p50 ms | p99 ms | rps vs direct | added p50 ms | proxy CPU µs/req |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const row of rows) {
  const direct = rows.find((r) => r.mode === row.mode && r.concurrency === row.concurrency && r.target.key === 'direct');
  const s = row.samples;
  const ratio = direct && row.target.key !== 'direct' ? medianRatio(s, direct.samples, (x) => x.rps) : direct ? 1 : null;
  const added =
    direct && row.target.key !== 'direct' ? med(s.map((x, i) => (direct.samples[i] ? x.p50Ms - direct.samples[i].p50Ms : null))) : direct ? 0 : null;
  const cpu = row.target.via !== 'direct' ? `${fmt(med(s.map((x) => x.proxyMainUs)), 0)} (${fmt(med(s.map((x) => x.proxyProcessUs)), 0)})` : '';
  console.log(
    `| ${row.mode} | ${row.concurrency} | ${row.target.name} | ${fmt(med(s.map((x) => x.rps)), 0)} | ${fmt(med(s.map((x) => x.p50Ms)))} | ${fmt(med(s.map((x) => x.p99Ms)))} | ${fmt(ratio)} | ${fmt(added)} | ${cpu} |`,
  );
}
console.log('');
for (const mode of modes) {
  for (const concurrency of concurrencies) {
    const on = rows.find((r) => r.mode === mode && r.concurrency === concurrency && r.target.key === 'budget-on');
    const off = rows.find((r) => r.mode === mode && r.concurrency === concurrency && r.target.key === 'no-budget');
    if (on && off)
      console.log(`budget on / off, ${mode} c=${concurrency}: ${fmt(medianRatio(on.samples, off.samples, (s) => s.rps))} (rps, median of per-run ratios)`);
  }
}
if (baselineDir) {
  console.log(`\nA/B against ${baselineDir} (median of per-run ratios, this tree / baseline; < 1 is better for CPU, > 1 for rps)`);
  for (const row of rows.filter((r) => r.target.via === 'proxy')) {
    const base = rows.find((r) => r.mode === row.mode && r.concurrency === row.concurrency && r.target.key === `base-${row.target.key}`);
    if (!base) continue;
    const cpu = medianRatio(row.samples, base.samples, (s) => s.proxyMainUs ?? Number.NaN);
    const rps = medianRatio(row.samples, base.samples, (s) => s.rps);
    console.log(`  ${row.mode} c=${row.concurrency} ${row.target.key}: CPU/request ${fmt(cpu)}, rps ${fmt(rps)}`);
  }
}
if (replay.length > 0) {
  console.log("\nbudget check against history size (JSON, c=32; the governed agent's 1h window pre-seeded in the ledger journal)\n");
  console.log('| records in window | proxy ready in ms | budget on rps | no budget rps | on / off | proxy CPU µs/req (budget on) |');
  console.log('|---|---|---|---|---|---|');
  for (const r of replay)
    console.log(
      `| ${r.records.toLocaleString('en-US')} | ${r.readyMs ?? '-'} | ${fmt(r.onRps, 0)} | ${fmt(r.offRps, 0)} | ${fmt(r.ratio)} | ${fmt(r.mainUs, 0)} |`,
    );
}
// The loop breaker's cost per call, measured in this process once the proxies have stopped (BENCH_LOOP=0 skips it;
// BENCH_LOOP=memory skips the rows that start a private redis-server)
if (process.env.BENCH_LOOP !== '0') {
  const loopRows = [...loopCostRows(runs), ...(process.env.BENCH_LOOP === 'memory' ? [] : await sharedLoopCostRows(runs))];
  console.log('\nloop breaker per call (every call is fingerprinted and observed; medians of runs)\n');
  console.log('| what | µs per call |');
  console.log('|---|---|');
  for (const row of loopRows) console.log(`| ${row.label} | ${fmt(row.microseconds)} |`);
}
