// Micro-benchmark of the loop breaker: ns per call for the fingerprint (hashing the last message) and for observe().
import { LoopBreaker } from '../src/budget/loop-breaker.ts';
import { DEFAULT_LOOP } from '../src/budget/loop-policy.ts';
import { loopFingerprint } from '../src/protocol/loop-fingerprint.ts';

const body = (i: number, resultBytes: number) => ({
  model: 'openai/gpt-4o',
  messages: [
    { role: 'system', content: 'You are a coding agent.' },
    { role: 'user', content: 'fix the failing test in src/' },
    {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: `call_${i}`, type: 'function', function: { name: 'run_tests', arguments: '{"path":"src","verbose":true}' } }],
    },
    { role: 'tool', tool_call_id: `call_${i}`, content: `${'x'.repeat(resultBytes)} ${i % 7}` },
  ],
});

let sink = 0;
for (const size of [200, 4_000, 64_000]) {
  const bodies = Array.from({ length: 64 }, (_, i) => body(i, size));
  for (let i = 0; i < 2_000; i++) sink += loopFingerprint({ body: bodies[i % 64], model: 'openai/gpt-4o' }).request.length;
  const rounds = size > 10_000 ? 5_000 : 50_000;
  const start = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) sink += loopFingerprint({ body: bodies[i % 64], model: 'openai/gpt-4o' }).request.length;
  console.log(
    `fingerprint, tool result of ${String(size).padStart(6)} B  ${(Number(process.hrtime.bigint() - start) / rounds / 1000).toFixed(1).padStart(7)} µs/call`,
  );
}
const breaker = new LoopBreaker();
const prints = Array.from({ length: 64 }, (_, i) => ({ request: `r${i % 8}`, toolCall: `t${i % 3}` }));
const rounds = 1_000_000;
const start = process.hrtime.bigint();
for (let i = 0; i < rounds; i++) sink += breaker.observe({ agentId: `agent-${i % 100}`, settings: DEFAULT_LOOP, fingerprint: prints[i % 64] }) ? 1 : 0;
console.log(`observe(), 100 agents                  ${(Number(process.hrtime.bigint() - start) / rounds).toFixed(0).padStart(7)} ns/call`);
if (sink === 42) console.log('');
