// The loop breaker's per-call cost in process: the fingerprint of a request by the size and kind of its last message, and observe().
import { Redis } from 'ioredis';
import { LoopBreaker } from '../src/budget/loop-breaker.ts';
import { SharedLoopState } from '../src/budget/loop-shared.ts';
import { DEFAULT_LOOP } from '../src/budget/loop-policy.ts';
import { createRedisSharedState } from '../src/ledger/redis/shared-state.ts';
import { loopFingerprint } from '../src/protocol/loop-fingerprint.ts';
import { PrivateRedis } from '../test/unit/ledger/redis-test-support.ts';
import { median } from './load.ts';

/** A tool loop's request: a system prompt, the task, the tool call and its result (`result(i)`, the last message). */
const body = (i: number, result: string) => ({
  model: 'openai/gpt-4o',
  messages: [
    { role: 'system', content: 'You are a coding agent.' },
    { role: 'user', content: 'fix the failing test in src/' },
    {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: `call_${i}`, type: 'function', function: { name: 'run_tests', arguments: '{"path":"src","verbose":true}' } }],
    },
    { role: 'tool', tool_call_id: `call_${i}`, content: `${result} ${i % 7}` },
  ],
});

/** Test output as a tool returns it: short lines, indentation, a newline each (a whitespace run every ~40 characters). */
const testOutput = (bytes: number) =>
  Array.from({ length: Math.ceil(bytes / 40) }, (_, i) => `  at check${i} (src/file${i % 17}.ts:${i}:12)\n`)
    .join('')
    .slice(0, bytes);

export interface LoopCostRow {
  readonly label: string;
  readonly microseconds: number;
}

const SHAPES: readonly { readonly label: string; readonly result: string }[] = [
  { label: 'fingerprint, 200 B tool result', result: 'x'.repeat(200) },
  { label: 'fingerprint, 4 KB tool result', result: 'x'.repeat(4_000) },
  { label: 'fingerprint, 64 KB tool result (one word)', result: 'x'.repeat(64_000) },
  { label: 'fingerprint, 64 KB tool result (test output)', result: testOutput(64_000) },
];

let sink = 0;
/** Calls of 100 agents: 8 requests and 3 tool calls in turn, so runs and repeats build up as in a busy fleet. */
const prints = Array.from({ length: 64 }, (_, i) => ({ request: `r${i % 8}`, toolCall: `t${i % 3}` }));

/** µs per call of one run of `rounds` calls (after a warm-up). */
function timeRun(rounds: number, call: (i: number) => number): number {
  for (let i = 0; i < Math.min(rounds, 2_000); i++) sink += call(i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) sink += call(i);
  return Number(process.hrtime.bigint() - start) / rounds / 1000;
}

/** Each row: the median of `runs` runs. */
export function loopCostRows(runs = 5): LoopCostRow[] {
  const rows: LoopCostRow[] = [];
  for (const shape of SHAPES) {
    const bodies = Array.from({ length: 64 }, (_, i) => body(i, shape.result));
    const rounds = shape.result.length > 10_000 ? 2_000 : 20_000;
    const times = Array.from({ length: runs }, () => timeRun(rounds, (i) => loopFingerprint({ body: bodies[i % 64], model: 'openai/gpt-4o' }).request.length));
    rows.push({ label: shape.label, microseconds: median(times) });
  }
  const breaker = new LoopBreaker();
  const observe = (i: number) => (breaker.observe({ agentId: `agent-${i % 100}`, settings: DEFAULT_LOOP, fingerprint: prints[i % 64] }) ? 1 : 0);
  rows.push({ label: 'observe(), in memory, 100 agents', microseconds: median(Array.from({ length: runs }, () => timeRun(200_000, observe))) });
  if (sink === 42) rows.push({ label: '', microseconds: 0 });
  return rows;
}

/**
 * The shared form on a Redis of its own (a private redis-server, so no other client's scripts are counted): the
 * caller's wall time per observe and Redis's time per observe (INFO commandstats), one at a time (c=1: one script per
 * call) and 32 in flight (the calls of one turn share a script).
 */
export async function sharedLoopCostRows(runs = 5, calls = 4_000): Promise<LoopCostRow[]> {
  const redis = await PrivateRedis.start();
  const state = await createRedisSharedState({ url: redis.url, keyPrefix: 'bench' });
  const admin = new Redis(redis.url);
  const redisUs = async () => Number(/cmdstat_evalsha:calls=\d+,usec=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? Number.NaN);
  try {
    const loops = new SharedLoopState({ script: (lua) => state.script(lua) });
    const observe = (i: number) => loops.observe({ agentId: `agent-${i % 100}`, settings: DEFAULT_LOOP, fingerprint: prints[i % 64] });
    const wall = { serial: [] as number[], parallel: [] as number[] };
    const server = { serial: [] as number[], parallel: [] as number[] };
    for (let run = 0; run < runs; run++) {
      for (const mode of ['serial', 'parallel'] as const) {
        await admin.config('RESETSTAT');
        const start = process.hrtime.bigint();
        if (mode === 'serial') for (let i = 0; i < calls; i++) await observe(i);
        else for (let i = 0; i < calls; i += 32) await Promise.all(Array.from({ length: 32 }, (_, j) => observe(i + j)));
        wall[mode].push(Number(process.hrtime.bigint() - start) / calls / 1000);
        server[mode].push((await redisUs()) / calls);
      }
    }
    return [
      { label: 'observe(), shared on Redis, c=1: wall', microseconds: median(wall.serial) },
      { label: 'observe(), shared on Redis, c=1: Redis time', microseconds: median(server.serial) },
      { label: 'observe(), shared on Redis, c=32: wall', microseconds: median(wall.parallel) },
      { label: 'observe(), shared on Redis, c=32: Redis time', microseconds: median(server.parallel) },
    ];
  } finally {
    admin.disconnect();
    await state.close();
    await redis.kill();
  }
}
