import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  buildHistoryEntry,
  historyCostMicros,
  historyIdFromRawLine,
  historyLine,
  historyUsage,
  jsonOnOneLine,
  serializeHistoryEntry,
  type HistoryEntryInput,
} from '../../../src/history/entry.ts';

const base: HistoryEntryInput = {
  requestId: 'req-1',
  startedAt: Date.UTC(2026, 1, 27, 15, 23, 45, 123),
  agentId: 'tiverton',
  path: '/v1/chat/completions',
  requestedModel: 'openai/gpt-4o',
  effectiveProvider: 'openai',
  effectiveModel: 'gpt-4o',
  statusCode: 200,
  stream: false,
  requestOriginal: { model: 'openai/gpt-4o', messages: [] },
  requestEffective: { model: 'gpt-4o', messages: [] },
  response: { format: 'json', json: { ok: true } },
  usage: { inputTokens: 100, outputTokens: 50 },
  price: { costMicros: 750, source: 'price_table' },
  latencyMs: 1250.4,
};

test('id is hist1_ + sha256 of the JSON of the entry without id, and fields follow the cllama order', () => {
  const entry = buildHistoryEntry(base);
  const { id, ...withoutId } = entry;
  assert.equal(id, 'hist1_' + createHash('sha256').update(JSON.stringify(withoutId)).digest('hex'));
  assert.deepEqual(Object.keys(entry), [
    'version',
    'id',
    'ts',
    'claw_id',
    'path',
    'requested_model',
    'effective_provider',
    'effective_model',
    'status_code',
    'stream',
    'request_original',
    'request_effective',
    'response',
    'usage',
    'request_id',
    'latency_ms',
  ]);
  assert.equal(entry.version, 1);
  assert.equal(entry.ts, '2026-02-27T15:23:45.123Z');
  assert.equal(entry.latency_ms, 1250);
});

test('the serialised line equals JSON.stringify of the entry (spliced id, no second stringify)', () => {
  const entry = buildHistoryEntry({ ...base, interventions: ['budget_alert'], outcome: 'upstream_cut' });
  assert.equal(serializeHistoryEntry(entry), JSON.stringify(entry));
  assert.deepEqual(JSON.parse(serializeHistoryEntry(entry)), entry);
});

test('the entry is frozen and later changes to the input objects do not change its line', () => {
  const body = { model: 'x', messages: [] as unknown[] };
  const entry = buildHistoryEntry({ ...base, requestOriginal: body });
  assert.ok(Object.isFrozen(entry));
  const before = serializeHistoryEntry(entry);
  body.messages.push('late');
  assert.equal(serializeHistoryEntry(entry), before);
});

test('usage: computed cost wins, cost_micros and cache tokens are kept, prompt_tokens counts every prompt-side token', () => {
  const entry = buildHistoryEntry({
    ...base,
    usage: { inputTokens: 100, outputTokens: 50, cacheReadTokens: 30, cacheWriteTokens: 20, reportedCostUsd: 9 },
    price: { costMicros: 750, source: 'price_table' },
  });
  assert.deepEqual(entry.usage, {
    prompt_tokens: 150,
    completion_tokens: 50,
    reported_cost_usd: 0.00075,
    cache_read_tokens: 30,
    cache_write_tokens: 20,
    cost_micros: 750,
    cost_source: 'price_table',
  });
});

test('usage: absent is not zero; unknown cost falls back to provider-reported, else is omitted', () => {
  const zero = buildHistoryEntry({ ...base, usage: { inputTokens: 0, outputTokens: 0 }, price: { costMicros: 0, source: 'price_table' } });
  assert.deepEqual(zero.usage, { prompt_tokens: 0, completion_tokens: 0, reported_cost_usd: 0, cost_micros: 0, cost_source: 'price_table' });

  const none = buildHistoryEntry({ ...base, usage: null, price: undefined });
  assert.deepEqual(none.usage, {});

  const reported = buildHistoryEntry({ ...base, usage: { outputTokens: 3, reportedCostUsd: 0.0021 }, price: { costMicros: null, source: 'unknown' } });
  assert.deepEqual(reported.usage, { completion_tokens: 3, reported_cost_usd: 0.0021, cost_source: 'unknown' });

  const unknown = buildHistoryEntry({ ...base, usage: { inputTokens: 240, outputTokens: 90 }, price: { costMicros: null, source: 'unknown' } });
  assert.equal('reported_cost_usd' in unknown.usage, false);
  assert.equal('cost_micros' in unknown.usage, false);
});

test('optional fields are omitted when not given', () => {
  const entry = buildHistoryEntry({ ...base, requestOriginal: undefined, requestEffective: undefined, interventions: [] });
  for (const key of ['request_original', 'request_effective', 'interventions', 'outcome', 'status']) assert.equal(key in entry, false, key);
  const sse = buildHistoryEntry({ ...base, stream: true, response: { format: 'sse', text: 'data: {}\n\n' } });
  assert.deepEqual(sse.response, { format: 'sse', text: 'data: {}\n\n' });
});

test('historyLine takes the bodies as text: the same line as the entry built from parsed bodies, and its own id', () => {
  const line = historyLine({
    requestId: 'req-1',
    startedAt: base.startedAt as number,
    agentId: 'tiverton',
    path: '/v1/chat/completions',
    requestedModel: 'openai/gpt-4o',
    effectiveProvider: 'openai',
    effectiveModel: 'gpt-4o',
    statusCode: 200,
    stream: false,
    requestOriginalJson: '{"model":"openai/gpt-4o","messages":[]}',
    requestEffectiveJson: '{"model":"gpt-4o","messages":[]}',
    response: { format: 'json', jsonText: '{"ok":true}' },
    usage: historyUsage(base.usage, base.price),
    latencyMs: 1250.4,
  });
  assert.equal(line, serializeHistoryEntry(buildHistoryEntry(base)));
  const { id, ...withoutId } = JSON.parse(line) as Record<string, unknown>;
  assert.equal(id, 'hist1_' + createHash('sha256').update(JSON.stringify(withoutId)).digest('hex'));
});

test('jsonOnOneLine drops the line breaks between tokens and keeps escaped ones inside strings', () => {
  const pretty = '{\r\n  "a": "x\\ny",\n  "b": [1,\n 2]\n}';
  const oneLine = jsonOnOneLine(pretty);
  assert.equal(/[\r\n]/.test(oneLine), false);
  assert.deepEqual(JSON.parse(oneLine), JSON.parse(pretty));
  assert.equal((JSON.parse(oneLine) as { a: string }).a, 'x\ny');
  const compact = '{"a":1}';
  assert.equal(jsonOnOneLine(compact), compact);
});

test('historyIdFromRawLine hashes the trimmed raw line', () => {
  const raw = '{"version":1,"ts":"2026-01-01T00:00:00Z"}';
  assert.equal(historyIdFromRawLine(raw + '\r'), 'hist1_' + createHash('sha256').update(raw).digest('hex'));
});

test('historyCostMicros: our integer field first, else cllama USD, else unknown', () => {
  assert.equal(historyCostMicros({ usage: { cost_micros: 750, reported_cost_usd: 0.5 } }), 750);
  assert.equal(historyCostMicros({ usage: { reported_cost_usd: 0.00075 } }), 750);
  assert.equal(historyCostMicros({ usage: { reported_cost_usd: 0 } }), 0);
  assert.equal(historyCostMicros({ usage: { prompt_tokens: 3 } }), null);
  assert.equal(historyCostMicros({ usage: undefined as never }), null);
});
