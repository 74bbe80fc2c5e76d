// The loop breaker on its own: fingerprints, the three detectors, escalation, and its memory bounds.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LoopBreaker } from '../../../src/budget/loop-breaker.ts';
import { DEFAULT_LOOP, readLoopBlock, type LoopSettings } from '../../../src/budget/loop-policy.ts';
import { loopFingerprint } from '../../../src/protocol/loop-fingerprint.ts';
import { parseWindow } from '../../../src/budget/duration.ts';

const toolTurn = (args: string, id: string, result: string) => ({
  model: 'openai/gpt-4o',
  messages: [
    { role: 'user', content: 'fix the build' },
    { role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name: 'run_tests', arguments: args } }] },
    { role: 'tool', tool_call_id: id, content: result },
  ],
});

describe('loopFingerprint', () => {
  const fp = (body: Record<string, unknown>) => loopFingerprint({ body, model: String(body.model) });
  it('ignores tool call ids, key order and whitespace; keeps no text', () => {
    const a = fp(toolTurn('{"path":"src","verbose":true}', 'call_1', 'FAIL  2 tests'));
    const b = fp(toolTurn('{ "verbose": true,  "path": "src" }', 'call_2', 'FAIL 2 tests '));
    assert.deepEqual(a, b);
    assert.match(a.request, /^[\w-]{16}$/);
    assert.ok(!JSON.stringify(a).includes('run_tests') && !JSON.stringify(a).includes('FAIL'), 'hashes only');
  });
  it('tells a different result, argument or model apart', () => {
    const base = fp(toolTurn('{"path":"src"}', 'c', 'FAIL'));
    assert.notEqual(fp(toolTurn('{"path":"src"}', 'c', 'PASS')).request, base.request);
    assert.equal(fp(toolTurn('{"path":"src"}', 'c', 'PASS')).toolCall, base.toolCall, 'the same tool call whatever its result');
    assert.notEqual(fp(toolTurn('{"path":"lib"}', 'c', 'FAIL')).toolCall, base.toolCall);
    assert.notEqual(fp({ ...toolTurn('{"path":"src"}', 'c', 'FAIL'), model: 'openai/gpt-4o-mini' }).request, base.request);
  });
  it('reads Anthropic tool_use blocks', () => {
    const body = (id: string) => ({
      model: 'claude',
      messages: [
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'let me look' },
            { type: 'tool_use', id, name: 'grep', input: { q: 'x' } },
          ],
        },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: 'nothing' }] },
      ],
    });
    const one = fp(body('toolu_1'));
    assert.ok(one.toolCall);
    assert.deepEqual(one, fp(body('toolu_2')));
  });
  // 64 KB of test output, as a tool returns it; `page` changes one character at `at`
  const bigResult = (options: { page?: number; at?: number; spacing?: (line: string) => string } = {}) => {
    const lines = Array.from({ length: 1800 }, (_, i) => `  at check${i} (src/file${i % 17}.ts:${i}:12)`);
    let text = lines.map(options.spacing ?? ((line) => line)).join('\n');
    if (options.page !== undefined) text = `${text.slice(0, options.at)}${options.page % 10}${text.slice(options.at! + 1)}`;
    return text;
  };
  it('a loop cannot hide in a big tool result: spacing, ids and key order varied anywhere in 64 KB give one fingerprint', () => {
    const base = fp(toolTurn('{"path":"src"}', 'call_1', bigResult()));
    assert.ok(bigResult().length > 60_000);
    const variants = [
      toolTurn('{ "path" : "src" }', 'call_2', bigResult({ spacing: (line) => line.replace(' at ', '   at\t') })),
      toolTurn('{"path":"src"}', 'call_3', `\n\n${bigResult().replace(/\n/g, '\r\n')}   `),
      toolTurn('{"path":"src"}', 'call_4', bigResult({ spacing: (line) => (line.includes('check800 ') ? `${line}\u00a0\u2003` : line) })),
    ];
    for (const variant of variants) assert.deepEqual(fp(variant), base);
  });
  it('nothing in a big tool result goes unhashed: pages that differ in one character in the middle or at the end differ', () => {
    const seen = new Set<string>();
    for (const at of [100, 32_000, 60_000]) {
      for (let page = 0; page < 3; page++) seen.add(fp(toolTurn('{"path":"src"}', 'c', bigResult({ page, at }))).request);
    }
    assert.equal(seen.size, 9, 'a non-looping agent paging through a big file is not one repeated request');
  });
  it('whitespace padding that carries a string across the long-string threshold changes nothing', () => {
    for (const half of [510, 1000]) {
      const text = `${'y'.repeat(half)} ${'y'.repeat(half)}`;
      const padded = `\t${'y'.repeat(half)} \n\t${' '.repeat(40)}${'y'.repeat(half)}\n`;
      assert.equal(fp(toolTurn('{}', 'c', padded)).request, fp(toolTurn('{}', 'c', text)).request, `${text.length} characters`);
    }
  });
  it('is stable from version to version: replicas on Redis share loop state by these hashes (pinned values)', () => {
    const bodies: Record<string, unknown>[] = [
      { model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'Say   something\tshort.' }] },
      {
        model: 'anthropic/claude',
        messages: [
          { role: 'user', content: 'go' },
          { role: 'assistant', content: [{ type: 'tool_use', id: 'tu_1', name: 'read', input: { path: '/a', n: [1, 2.5, null, true] } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'tu_1', content: 'x'.repeat(1500) }] },
        ],
      },
      {
        model: 'openai/gpt-4o',
        messages: [
          { role: 'assistant', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"b":1, "a":"é 🙂"}' } }] },
          { role: 'tool', tool_call_id: 'c1', content: '' },
        ],
      },
      {
        model: 'openai/gpt-5',
        input: [
          { type: 'function_call', name: 'g', arguments: 'not json' },
          { type: 'function_call_output', output: { z: {}, y: [] } },
        ],
      },
      { model: 'openai/gpt-5', input: 'just text' },
    ];
    assert.deepEqual(bodies.map(fp), [
      { request: 'zJrg3786_0jy2RQJ', toolCall: null },
      { request: 'SaDHRQkhJo5lCxYW', toolCall: 'NCIBVBeQwKzUiwmB' },
      { request: 'Rik8xev-56zp5i7k', toolCall: 'ry2YbjuUhPhZ4z3B' },
      { request: 'iPxLSFjcsNW_LnK2', toolCall: 'YlcszYu-34juP5Xv' },
      { request: 'G8SOYKDHwRD6nvFS', toolCall: null },
    ]);
  });

  it('a conversation without tool calls has none', () => {
    assert.equal(fp({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }).toolCall, null);
  });
});

describe('LoopBreaker', () => {
  const settings = (over: Partial<LoopSettings> = {}): LoopSettings => ({ ...DEFAULT_LOOP, ...over });
  const run = (input: { settings: LoopSettings; calls: number; stepMs: number; tool?: (i: number) => string | null; request?: (i: number) => string }) => {
    let now = Date.parse('2026-12-07T09:00:00Z');
    const breaker = new LoopBreaker({ now: () => now });
    const verdicts = [];
    for (let i = 0; i < input.calls; i++) {
      verdicts.push(
        breaker.observe({
          agentId: 'a',
          settings: input.settings,
          fingerprint: { request: input.request?.(i) ?? 'same', toolCall: input.tool ? input.tool(i) : 'tool' },
        }),
      );
      now += input.stepMs;
    }
    return { verdicts, breaker };
  };
  const firstFlag = (verdicts: readonly (unknown | null)[]) => verdicts.findIndex((verdict) => verdict !== null) + 1;

  const cases = [
    { name: 'defaults flag the 20th identical call in a row, not before', settings: settings(), calls: 25, stepMs: 1000, flagAt: 20 },
    {
      name: 'the same tool call with varying results: 20th in a row',
      settings: settings(),
      calls: 25,
      stepMs: 1000,
      request: (i: number) => `r${i}`,
      flagAt: 20,
    },
    {
      name: 'identical requests slower than K within W are not a loop (tool calls differ)',
      settings: settings({ sameRequest: 5, withinMs: 10_000 }),
      calls: 30,
      stepMs: 3000,
      tool: (i: number) => `t${i}`,
      flagAt: 0,
    },
    {
      name: 'identical requests: K within W (tool calls differ)',
      settings: settings({ sameRequest: 5, withinMs: 10_000 }),
      calls: 30,
      stepMs: 2000,
      tool: (i: number) => `t${i}`,
      flagAt: 5,
    },
    {
      name: 'a different tool call breaks the run',
      settings: settings({ sameToolCall: 4 }),
      calls: 30,
      stepMs: 1000,
      request: (i: number) => `r${i}`,
      tool: (i: number) => (i % 3 === 0 ? 'other' : 'tool'),
      flagAt: 0,
    },
    { name: 'off: nothing flags', settings: settings({ enabled: false }), calls: 50, stepMs: 1, flagAt: 0 },
  ];
  for (const testCase of cases) {
    it(testCase.name, () => {
      const { verdicts } = run(testCase);
      assert.equal(firstFlag(verdicts), testCase.flagAt);
    });
  }

  it('escalates alert → rate_limit → hard_stop after N flagged calls each, and a hard stop refuses any call of the agent', () => {
    const loop = settings({ sameToolCall: 3, escalateAfter: 2, action: 'hard_stop', withinMs: 60_000 });
    const { verdicts, breaker } = run({ settings: loop, calls: 9, stepMs: 1000, request: (i) => `r${i}` });
    assert.deepEqual(
      verdicts.map((verdict) => verdict && `${verdict.level}${verdict.refuse ? '!' : ''}${verdict.changed ? '*' : ''}`),
      [null, null, 'alert*', 'alert', 'rate_limit!*', 'rate_limit!', 'hard_stop!*', 'hard_stop!', 'hard_stop!'],
    );
    assert.equal(verdicts[4]?.retryAfterMs, Math.ceil(60_000 / loop.sameRequest));
    const view = breaker.view('a', loop);
    assert.deepEqual([view?.detector, view?.count, view?.level], ['same_tool_call', 9, 'hard_stop']);
  });

  it('with action rate_limit it never stops; with the default it only alerts', () => {
    const limited = run({
      settings: settings({ sameToolCall: 2, escalateAfter: 1, action: 'rate_limit' }),
      calls: 20,
      stepMs: 10,
      request: (i) => `r${i}`,
    }).verdicts;
    assert.ok(limited.slice(2).every((verdict) => verdict?.level === 'rate_limit'));
    const alerting = run({ settings: settings({ sameToolCall: 2 }), calls: 200, stepMs: 10, request: (i) => `r${i}` }).verdicts;
    assert.ok(alerting.slice(1).every((verdict) => verdict?.level === 'alert' && !verdict.refuse));
    assert.equal(alerting.filter((verdict) => verdict?.changed).length, 1, 'one alert per episode');
  });

  it("a velocity spike against the agent's own rate escalates as a loop does; a steady rate, however high, never flags", () => {
    let now = Date.parse('2026-12-07T09:00:00Z');
    const breaker = new LoopBreaker({ now: () => now });
    const loop = settings({ action: 'hard_stop', escalateAfter: 2 });
    const call = (i: number) => breaker.observe({ agentId: 'v', settings: loop, fingerprint: { request: `r${i}`, toolCall: null } });
    const steady: unknown[] = [];
    for (let i = 0; i < 30 * 300; i++) {
      steady.push(call(i));
      now += 200; // 300 a minute for 30 minutes: five times velocity_min_rpm, every request different
    }
    assert.ok(
      steady.every((verdict) => verdict === null),
      'a steady rate is its own baseline',
    );
    now += 60_000;
    const burst = [];
    for (let i = 0; i < 3_100; i++) burst.push(call(100_000 + i)); // 3,100 within a minute: over 10 × 300
    const flagged = burst.filter((verdict) => verdict !== null);
    assert.ok(flagged.every((verdict) => verdict?.detector === 'velocity'));
    assert.deepEqual(
      flagged.slice(0, 5).map((verdict) => `${verdict?.level}${verdict?.refuse ? '!' : ''}${verdict?.changed ? '*' : ''}`),
      ['alert*', 'alert', 'rate_limit!*', 'rate_limit!', 'hard_stop!*'],
    );
    assert.equal(flagged[2]?.retryAfterMs, Math.ceil(loop.withinMs / loop.sameRequest));
    now += 60_000;
    assert.equal(call(9)?.level, 'hard_stop', 'stopped for `within` after its last flagged call, whatever it sends');
  });

  it('holds at most 16 fingerprints an agent and 10,000 agents', () => {
    let now = 0;
    const breaker = new LoopBreaker({ now: () => now++ });
    for (let i = 0; i < 10_050; i++) breaker.observe({ agentId: `agent-${i}`, settings: DEFAULT_LOOP, fingerprint: { request: 'r', toolCall: null } });
    assert.equal(breaker.agentsHeld, 10_000);
  });
});

describe('loop block', () => {
  const read = (raw: unknown) => {
    const problems: string[] = [];
    return { settings: readLoopBlock({ raw, field: 'loop', problems, duration: parseWindow }), problems };
  };
  it('overrides the defaults', () => {
    const { settings, problems } = read({ same_tool_call: 5, within: '5m', action: 'Hard_Stop', escalate_after: 2, velocity_multiple: 0 });
    assert.deepEqual(problems, []);
    assert.deepEqual(
      [settings?.sameToolCall, settings?.withinMs, settings?.action, settings?.escalateAfter, settings?.velocityMultiple, settings?.sameRequest],
      [5, 300_000, 'hard_stop', 2, 0, 20],
    );
  });
  it('reports each bad field', () => {
    assert.deepEqual(read({ same_request: 1, within: 'soon', action: 'kill', colour: 'red' }).problems, [
      'loop.colour: unknown field in a loop block (allowed: enabled, same_request, within, same_tool_call, velocity_multiple, velocity_min_rpm, action, escalate_after)',
      'loop.within: must be a positive duration up to 1d like 10m',
      'loop.action: must be one of alert, rate_limit, hard_stop',
      'loop.same_request: must be a whole number from 2 to 200',
    ]);
  });
});
