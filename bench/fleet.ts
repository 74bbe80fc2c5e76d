// Start and memory at fleet size: AGENTS agents configured, start-up time, RSS idle and under load, start-up with a JOURNAL-record journal.
// `AGENTS=10000 JOURNAL=1000000 LOAD_S=20 node bin/run-ts.js bench/fleet.ts` (docs: bench/README.md)
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fleetAgentId, fleetLoad, retainedHeapMb, rssMb, startFleetProxy, stateOf, writeFleet } from './fleet-setup.ts';
import { seedJournal } from './setup.ts';

const agents = Number(process.env.AGENTS ?? 10_000);
const journalRecords = Number(process.env.JOURNAL ?? 1_000_000);
const loadMs = Number(process.env.LOAD_S ?? 20) * 1000;
const concurrency = Number(process.env.CONCURRENCY ?? 32);
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));
const load = () =>
  loadavg()
    .map((value) => value.toFixed(1))
    .join(' ');

const fake = spawn(process.execPath, ['--import', 'tsx', new URL('./fake-upstream-server.ts', import.meta.url).pathname], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const fakeUrl = (await new Promise<string>((done) => createInterface({ input: fake.stdout! }).once('line', done))).trim();
const sink = spawn('sh', ['-c', 'cat > /dev/null'], { stdio: ['pipe', 'ignore', 'inherit'] });
const root = mkdtempSync(join(tmpdir(), 'tollgate-fleet-'));
const rows: string[] = [];
try {
  let started = performance.now();
  writeFleet({ root, upstreamUrl: fakeUrl, agents });
  console.error(`${agents} agents written in ${Math.round(performance.now() - started)} ms`);

  const snapshots = join(root, 'snapshots');
  mkdirSync(snapshots);
  // a heap snapshot on SIGUSR2: its collection shows what the heap retains after the load
  const fleet = await startFleetProxy({ root, stdout: sink.stdin!, nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshots}`] });
  try {
    const pid = fleet.proxy.child.pid!;
    rows.push(
      `| start-up, ${agents.toLocaleString('en-US')} agents, empty journal | ${Math.round(fleet.startMs)} ms to /health (${fleet.readyMs ?? '-'} ms "ready in") | load ${load()} |`,
    );
    await sleep(5000);
    rows.push(`| RSS idle (5 s after start) | ${rssMb(pid).toFixed(0)} MB | load ${load()} |`);
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 250);
    started = performance.now();
    const result = await fleetLoad({ url: fleet.proxy.url, agents, concurrency, durationMs: loadMs });
    clearInterval(sampler);
    const seconds = (performance.now() - started) / 1000;
    rows.push(
      `| RSS under load (c=${concurrency}, every call from the next agent, ${(result.calls / seconds).toFixed(0)} calls/s, ${result.errors} errors) | peak ${peak.toFixed(0)} MB, end ${rssMb(pid).toFixed(0)} MB | load ${load()} |`,
    );
    await sleep(15_000); // the history writer forgets agents idle for 10 s
    const state = await stateOf(fleet.uiUrl);
    rows.push(
      `| RSS 15 s after the load | ${rssMb(pid).toFixed(0)} MB (heap used ${((state['heap_bytes:used'] ?? 0) / 1e6).toFixed(0)} MB; history agents held ${state.history_agents ?? '-'}, ledger scopes ${state.ledger_scopes ?? '-'}) | load ${load()} |`,
    );
    const retained = await retainedHeapMb({ pid, dir: snapshots, uiUrl: fleet.uiUrl });
    rows.push(
      `| heap retained after the load (after the full collection of a heap snapshot) | ${retained === null ? '-' : retained.toFixed(0)} MB, RSS then ${rssMb(pid).toFixed(0)} MB | load ${load()} |`,
    );
  } finally {
    await fleet.proxy.stop();
  }

  if (journalRecords > 0) {
    // the fleet's budgeted agents' windows, one record per settlement spread over the last hour, as a busy hour leaves it
    rmSync(join(root, 'history'), { recursive: true, force: true });
    const file = join(root, 'history', '_ledger', 'journal.jsonl');
    started = performance.now();
    const scopes = Array.from({ length: Math.ceil(agents / 2) }, (_, i) => `agent:${fleetAgentId(2 * i)}`);
    await seedJournal({ file, records: journalRecords, scope: scopes, windowMs: 3_600_000 });
    console.error(`${journalRecords} journal records written in ${Math.round(performance.now() - started)} ms`);
    const replayed = await startFleetProxy({ root, stdout: sink.stdin! });
    try {
      const line = /ledger loaded[^\n]*/.exec(replayed.proxy.stderr())?.[0] ?? '';
      rows.push(
        `| start-up with ${journalRecords.toLocaleString('en-US')} journal records | ${Math.round(replayed.startMs)} ms to /health (${replayed.readyMs ?? '-'} ms "ready in"; ${line}) | load ${load()} |`,
      );
      rows.push(`| RSS idle after that replay | ${rssMb(replayed.proxy.child.pid!).toFixed(0)} MB | load ${load()} |`);
    } finally {
      await replayed.proxy.stop();
    }
  }
} finally {
  rmSync(root, { recursive: true, force: true });
  fake.kill('SIGTERM');
  sink.stdin!.end();
}
console.log(`\n| measure (${agents.toLocaleString('en-US')} agents) | result | load average 1/5/15 min |\n|---|---|---|`);
for (const row of rows) console.log(row);
