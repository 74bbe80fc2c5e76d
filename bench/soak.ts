// Soak at steady load: RSS, heap, active handles and timers, and the sizes of the proxy's maps, sampled over DURATION_S; nothing may grow per call.
// `DURATION_S=600 RATE=300 AGENTS=1000 node bin/run-ts.js bench/soak.ts` (not part of npm test; docs: bench/README.md)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fleetLoad, rssMb, startFleetProxy, stateOf, writeFleet } from './fleet-setup.ts';

const durationS = Number(process.env.DURATION_S ?? 600);
const sampleS = Number(process.env.SAMPLE_S ?? 30);
const rate = Number(process.env.RATE ?? 300);
const agents = Number(process.env.AGENTS ?? 1000);

const fake = spawn(process.execPath, ['--import', 'tsx', new URL('./fake-upstream-server.ts', import.meta.url).pathname], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const fakeUrl = (await new Promise<string>((done) => createInterface({ input: fake.stdout! }).once('line', done))).trim();
const sink = spawn('sh', ['-c', 'cat > /dev/null'], { stdio: ['pipe', 'ignore', 'inherit'] });
const root = mkdtempSync(join(tmpdir(), 'tollgate-soak-'));
interface Sample {
  readonly atS: number;
  readonly calls: number;
  readonly rssMb: number;
  readonly load: string;
  readonly state: Record<string, number>;
}
const samples: Sample[] = [];
let calls = 0;
let nextAgent = 0;
let errors = 0;
try {
  writeFleet({ root, upstreamUrl: fakeUrl, agents });
  const fleet = await startFleetProxy({ root, stdout: sink.stdin! });
  try {
    const pid = fleet.proxy.child.pid!;
    const started = performance.now();
    // one load run per sample period, back to back: the calls made so far are known at each sample
    for (let at = 0; at < durationS; at += sampleS) {
      const period = await fleetLoad({ url: fleet.proxy.url, agents, concurrency: 16, durationMs: sampleS * 1000, rps: rate, firstAgent: nextAgent });
      nextAgent = period.next;
      calls += period.calls;
      errors += period.errors;
      const sample = {
        atS: Math.round((performance.now() - started) / 1000),
        calls,
        rssMb: rssMb(pid),
        load: loadavg()[0].toFixed(1),
        state: await stateOf(fleet.uiUrl),
      };
      samples.push(sample);
      console.error(
        `${sample.atS} s: ${calls} calls, RSS ${sample.rssMb.toFixed(0)} MB, heap ${((sample.state['heap_bytes:used'] ?? 0) / 1e6).toFixed(0)} MB, load ${sample.load}`,
      );
    }
  } finally {
    await fleet.proxy.stop();
  }
} finally {
  rmSync(root, { recursive: true, force: true });
  fake.kill('SIGTERM');
  sink.stdin!.end();
}

// every gauge seen, one column per sample. Memory swings with the garbage collector and the counts with the phase of
// each sweep timer against the samples, so the verdict compares ranges: a value grows when the second half's lowest
// reading is above the first half's highest (retained memory raises the floor, not only the peaks)
const keys = [...new Set(samples.flatMap((sample) => Object.keys(sample.state)))].sort();
console.log(`\nsoak: ${durationS} s at ${rate} calls/s over ${agents} agents (c=16, JSON, every other agent budgeted): ${calls} calls, ${errors} errors\n`);
console.log(`| at s | calls | load | RSS MB | ${keys.join(' | ')} |`);
console.log(`|${'---|'.repeat(keys.length + 4)}`);
for (const sample of samples)
  console.log(
    `| ${sample.atS} | ${sample.calls} | ${sample.load} | ${sample.rssMb.toFixed(0)} | ${keys.map((key) => fmt(key, sample.state[key])).join(' | ')} |`,
  );
const half = Math.max(1, Math.floor(samples.length / 2));
const range = (list: Sample[], pick: (sample: Sample) => number): [number, number] => [Math.min(...list.map(pick)), Math.max(...list.map(pick))];
console.log('\nfirst half [lowest, highest] → second half (the calls doubled meanwhile: a value growing per call would double too):');
for (const [key, pick] of [['RSS MB', (s: Sample) => s.rssMb], ...keys.map((key) => [key, (s: Sample) => s.state[key] ?? 0] as const)] as const) {
  const [firstLow, firstHigh] = range(samples.slice(0, half), pick);
  const [secondLow, secondHigh] = range(samples.slice(half), pick);
  const grew = secondLow > firstHigh && secondLow - firstHigh > 16;
  console.log(`  ${key}: [${fmt(key, firstLow)}, ${fmt(key, firstHigh)}] → [${fmt(key, secondLow)}, ${fmt(key, secondHigh)}]${grew ? '  GREW' : ''}`);
}

function fmt(key: string, value: number | undefined): string {
  if (value === undefined) return '-';
  return key.startsWith('heap_bytes:')
    ? `${(value / 1e6).toFixed(1)} MB`
    : typeof value === 'number' && !Number.isInteger(value)
      ? value.toFixed(1)
      : String(value);
}
