// An idle proxy with many agents: CPU spent by the directory rescans, and how long they hold the event loop (a /health probe's latency).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cpuSince, cpuTimeOf } from './proc-cpu.ts';
import { freePort, startProxyProcess } from '../test/helpers/process.ts';

const agents = Number(process.env.AGENTS ?? 10_000);
const seconds = Number(process.env.DURATION_S ?? 20);
const runs = Number(process.env.RUNS ?? 3);
const baseline = process.env.BENCH_BASELINE ? resolve(process.env.BENCH_BASELINE) : null;
const PROBE_EVERY_MS = 10;

const root = mkdtempSync(join(tmpdir(), 'tollgate-rescan-'));
for (let index = 0; index < agents; index++) {
  const id = `agent-${index}`;
  mkdirSync(join(root, 'context', id), { recursive: true });
  writeFileSync(join(root, 'context', id, 'metadata.json'), JSON.stringify({ token: `${id}:secret`, budget: { limit_usd: 5, window: '1h' } }));
  mkdirSync(join(root, 'governance', id), { recursive: true });
  writeFileSync(join(root, 'governance', id, 'budget.json'), JSON.stringify({ limit_usd: 10, window: '24h' }));
}
mkdirSync(join(root, 'auth'));
writeFileSync(
  join(root, 'auth', 'providers.json'),
  JSON.stringify({ providers: { openai: { base_url: 'http://127.0.0.1:9/v1', api_key: 'sk-x', auth: 'bearer' } } }),
);
const env = {
  CLAW_CONTEXT_ROOT: join(root, 'context'),
  CLAW_AUTH_DIR: join(root, 'auth'),
  CLAW_SESSION_HISTORY_DIR: join(root, 'history'),
  CLAW_GOVERNANCE_DIR: join(root, 'governance'),
};

interface Reading {
  readonly cpuPercent: number;
  readonly mainPercent: number;
  readonly probeP99Ms: number;
  readonly probeMaxMs: number;
}

async function measure(bin: string | undefined): Promise<Reading> {
  rmSync(join(root, 'history'), { recursive: true, force: true });
  const proxy = await startProxyProcess({ env, port: await freePort(), bin });
  try {
    await new Promise((done) => setTimeout(done, 5_000)); // the first scans and watches settle
    const before = cpuTimeOf(proxy.child.pid);
    const latencies: number[] = [];
    const until = Date.now() + seconds * 1000;
    while (Date.now() < until) {
      const started = performance.now();
      await fetch(`${proxy.url}/health`).then((response) => response.arrayBuffer());
      latencies.push(performance.now() - started);
      await new Promise((done) => setTimeout(done, PROBE_EVERY_MS));
    }
    const used = cpuSince(before, cpuTimeOf(proxy.child.pid));
    latencies.sort((a, b) => a - b);
    return {
      cpuPercent: ((used?.processMs ?? 0) / (seconds * 1000)) * 100,
      mainPercent: ((used?.mainMs ?? 0) / (seconds * 1000)) * 100,
      probeP99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
      probeMaxMs: latencies[latencies.length - 1] ?? 0,
    };
  } finally {
    await proxy.stop();
  }
}

const trees: { name: string; bin: string | undefined }[] = [{ name: 'this tree', bin: undefined }];
if (baseline) trees.push({ name: `baseline ${baseline}`, bin: join(baseline, 'bin', 'tollgate.js') });
const results = new Map<string, Reading[]>(trees.map((tree) => [tree.name, []]));
for (let run = 0; run < runs; run++) {
  const order = run % 2 === 0 ? trees : [...trees].reverse();
  for (const tree of order) {
    const reading = await measure(tree.bin);
    results.get(tree.name)!.push(reading);
    console.log(
      `${tree.name} run ${run + 1}: CPU ${reading.cpuPercent.toFixed(1)} % of a core (main thread ${reading.mainPercent.toFixed(1)} %), /health p99 ${reading.probeP99Ms.toFixed(1)} ms, max ${reading.probeMaxMs.toFixed(1)} ms`,
    );
  }
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
console.log(`\n${agents} agents (context + governance file each), idle, ${seconds} s × ${runs} interleaved runs, medians:`);
for (const [name, readings] of results) {
  console.log(
    `  ${name}: CPU ${median(readings.map((r) => r.cpuPercent)).toFixed(1)} % (main ${median(readings.map((r) => r.mainPercent)).toFixed(1)} %), /health p99 ${median(readings.map((r) => r.probeP99Ms)).toFixed(1)} ms, max ${median(readings.map((r) => r.probeMaxMs)).toFixed(1)} ms`,
  );
}
rmSync(root, { recursive: true, force: true });
