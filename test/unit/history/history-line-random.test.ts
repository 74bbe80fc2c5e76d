// historyLine on random calls: always JSON.stringify of its own entry (cllama's id), the time exactly toISOString's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { historyLine, historyUsage } from '../../../src/history/entry.ts';
import { seededRandom } from '../../helpers/random.ts';

const INSTANTS = [
  0, 1, 9, 10, 99, 100, 999, 1000, 1001, 59_999, 60_000, 1_772_205_825_123, 253_402_300_799_999, 253_402_300_800_000, -1, -1001, 1.5, 1_772_205_825_123.7,
];

/** A call's line; only its start and usage block vary here. */
function lineAt(startedAt: number, usage: object): string {
  const call = { requestId: 'r1', agentId: 'a', path: '/v1/chat/completions', requestedModel: 'm', effectiveProvider: 'p', effectiveModel: 'm' };
  return historyLine({ ...call, startedAt, latencyMs: 3, statusCode: 200, stream: false, response: { format: 'json', jsonText: '{"ok":true}' }, usage });
}

test('the time is toISOString of the start, at every edge of the second, the era and the year 9999', () => {
  const random = seededRandom(5);
  const instants = [...INSTANTS, ...Array.from({ length: 3000 }, () => Math.floor(random() * 2_000_000_000_000))];
  for (const [i, ms] of instants.entries()) {
    // in order and out of order: the formatted second is kept between calls
    for (const at of [ms, instants[(i * 7) % instants.length], ms]) {
      const entry = JSON.parse(lineAt(at, {})) as { ts: string };
      assert.equal(entry.ts, new Date(at).toISOString(), String(at));
    }
  }
});

test('the usage block is JSON.stringify of it, whatever it holds, and the id is cllama`s', () => {
  const random = seededRandom(9);
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)];
  for (let i = 0; i < 2000; i++) {
    const usage = historyUsage(
      {
        inputTokens: pick([undefined, 0, 12, 1e15]),
        outputTokens: pick([undefined, 9]),
        cacheReadTokens: pick([undefined, 3]),
        reasoningTokens: pick([undefined, 2]),
        reportedCostUsd: pick([undefined, 0.00012, 1e-7]),
        estimated: pick([undefined, true]),
      },
      pick([null, { costMicros: 120, source: 'price_table' as const }, { costMicros: null, source: 'provider_reported' as const }]),
    );
    const odd = pick([
      {},
      { nan: Number.NaN, inf: -Infinity, neg: -0, text: 'q"\n\u2028', flag: false, none: undefined, list: [1], nested: { a: 1 } },
      { 1: 'x', b: 2, 0: 'y' },
    ]);
    for (const block of [usage, odd]) {
      const line = lineAt(1_772_205_825_123, block);
      assert.ok(line.includes(`,"usage":${JSON.stringify(block)},`), line);
      const { id, ...rest } = JSON.parse(line) as Record<string, unknown>;
      assert.equal(id, `hist1_${createHash('sha256').update(JSON.stringify(rest)).digest('hex')}`);
    }
  }
});
