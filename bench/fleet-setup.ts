// Fleet-size fixtures for bench/fleet.ts and bench/soak.ts: N agents on disk, a proxy on them, load spread over them, what the proxy holds.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from 'undici';
import { freePort, startProxyProcess, type RunningProxy } from '../test/helpers/process.ts';
import { writeBenchConfig } from './setup.ts';

/** `fleet-<i>`, every other one with a budget that never refuses (so half the calls are reserved and settled). */
export function fleetAgentId(index: number): string {
  return `fleet-${index}`;
}

export function writeFleet(input: { root: string; upstreamUrl: string; agents: number }): void {
  writeBenchConfig({ root: input.root, upstreamUrl: input.upstreamUrl });
  const budget = { limit_usd: 1_000_000, max_requests: 1_000_000_000, window: '1h', behavior: 'hard_stop' };
  for (let i = 0; i < input.agents; i++) {
    const id = fleetAgentId(i);
    mkdirSync(join(input.root, 'context', id), { recursive: true });
    writeFileSync(join(input.root, 'context', id, 'metadata.json'), JSON.stringify({ token: `${id}:secret`, ...(i % 2 === 0 ? { budget } : {}) }));
  }
}

export interface FleetProxy {
  readonly proxy: RunningProxy;
  readonly uiUrl: string;
  /** From spawn to /health answering, ms. */
  readonly startMs: number;
  /** What the proxy itself logged (`ready in N ms`), or null. */
  readonly readyMs: number | null;
}

export async function startFleetProxy(input: {
  root: string;
  env?: Record<string, string>;
  stdout: NodeJS.WritableStream;
  nodeArgs?: readonly string[];
}): Promise<FleetProxy> {
  const uiPort = await freePort();
  const started = performance.now();
  const proxy = await startProxyProcess({
    port: await freePort(),
    stdout: input.stdout as never,
    nodeArgs: input.nodeArgs,
    env: {
      ...input.env,
      UI_ADDR: `127.0.0.1:${uiPort}`,
      CLAW_CONTEXT_ROOT: join(input.root, 'context'),
      CLAW_AUTH_DIR: join(input.root, 'auth'),
      CLAW_SESSION_HISTORY_DIR: join(input.root, 'history'),
    },
  });
  const startMs = performance.now() - started;
  for (let i = 0; i < 100 && !/ready in \d+ ms/.test(proxy.stderr()); i++) await new Promise((done) => setTimeout(done, 20));
  const ready = /ready in (\d+) ms/.exec(proxy.stderr());
  return { proxy, uiUrl: `http://127.0.0.1:${uiPort}`, startMs, readyMs: ready ? Number(ready[1]) : null };
}

/**
 * What the proxy's heap still holds: it is started with `--heapsnapshot-signal=SIGUSR2`, and a heap snapshot collects
 * the garbage before it is written; the heap used read afterwards is what is retained. Null when no snapshot appeared.
 */
export async function retainedHeapMb(input: { pid: number; dir: string; uiUrl: string }): Promise<number | null> {
  process.kill(input.pid, 'SIGUSR2');
  for (let i = 0; i < 600; i++) {
    await new Promise((done) => setTimeout(done, 500));
    const written = readdirSync(input.dir).find((name) => name.endsWith('.heapsnapshot'));
    // the snapshot is written once the collection is done: the heap read then is the retained one
    if (written) return ((await stateOf(input.uiUrl))['heap_bytes:used'] ?? Number.NaN) / 1e6;
  }
  return null;
}

/** Resident memory of a process, MB (from /proc). */
export function rssMb(pid: number): number {
  const line = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return line ? Number(line[1]) / 1024 : Number.NaN;
}

/** The proxy's state gauges (tollgate_state_entries, tollgate_active_resources, tollgate_heap_bytes) from /metrics. */
export async function stateOf(uiUrl: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${uiUrl}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const match of text.matchAll(/^tollgate_(state_entries|active_resources|heap_bytes)\{(?:part|type|kind)="([^"]+)"\} (\S+)$/gm))
    out[`${match[1] === 'state_entries' ? '' : `${match[1]}:`}${match[2]}`] = Number(match[3]);
  return out;
}

/**
 * Closed-loop load over the fleet: `concurrency` workers, each call from the next agent in turn (JSON chat calls), for
 * `durationMs`, or paced to at most `rps` calls per second in all when given. Resolves with calls made and
 * failed, and the agent the next call would come from.
 */
export async function fleetLoad(input: {
  url: string;
  agents: number;
  concurrency: number;
  durationMs: number;
  rps?: number;
  /** The agent of the first call (a run that goes on where the last one stopped passes that one's `next`). */
  firstAgent?: number;
}): Promise<{ calls: number; errors: number; next: number }> {
  const origin = new URL(input.url).origin;
  const pool = new Pool(origin, { connections: input.concurrency, pipelining: 1 });
  const body = JSON.stringify({ model: 'openai/gpt-4o', max_tokens: 32, messages: [{ role: 'user', content: 'Say something short.' }] });
  const started = performance.now();
  const until = started + input.durationMs;
  let next = input.firstAgent ?? 0;
  let calls = 0;
  let errors = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < until) {
      if (input.rps) {
        const due = started + (calls * 1000) / input.rps;
        if (due > performance.now()) await new Promise((done) => setTimeout(done, due - performance.now()));
      }
      const id = fleetAgentId(next++ % input.agents);
      calls += 1;
      try {
        const response = await pool.request({
          origin,
          path: '/v1/chat/completions',
          method: 'POST',
          headers: { authorization: `Bearer ${id}:secret`, 'content-type': 'application/json' },
          body,
        });
        await response.body.text();
        if (response.statusCode !== 200) errors += 1;
      } catch {
        errors += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: input.concurrency }, worker));
  await pool.close();
  return { calls, errors, next: next % input.agents };
}
