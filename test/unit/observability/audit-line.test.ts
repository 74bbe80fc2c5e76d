import { test } from 'node:test';
import assert from 'node:assert/strict';
import { auditLine, toAuditRecord } from '../../../src/observability/audit-log.ts';
import type { ProxyEvent } from '../../../src/observability/events.ts';
import { rawEvent } from '../../helpers/raw-event.ts';

const base = { ts: '2026-02-27T15:23:45.250Z', claw_id: 'a', model: 'm', intervention: null } as const;

// every kind of field, wanted or not: the audit line copes with any emitter
const events: ProxyEvent[] = [
  rawEvent({
    ...base,
    type: 'response',
    request_id: 'r1',
    status_code: 200,
    latency_ms: 3,
    stream: false,
    tokens_in: 10,
    tokens_out: 5,
    cost_usd: 0.000345,
    cost_micros: 345,
  }) as ProxyEvent,
  rawEvent({
    ...base,
    type: 'error',
    ts: '2026-02-27T16:23:45.250+01:00',
    claw_id: null,
    model: null,
    error: 'upstream said Bearer sk-abcdefghijklmnopqrstuvwx',
    code: 'upstream_unreachable',
  }) as ProxyEvent,
  rawEvent({
    ...base,
    type: 'intervention',
    intervention: 'budget_exceeded',
    api_key: 'sk-live-123',
    access_token: 'x',
    tokens_in: 4,
    extra_tokens: ['t1', 't2'],
    nested: { authorization: 'Bearer abc', list: [1, 'Basic QWxhZGRpbjpvcGVu'], when: new Date(0) },
  }) as ProxyEvent,
  rawEvent({
    ...base,
    type: 'budget_decision',
    used: Number.NaN,
    limit: Number.POSITIVE_INFINITY,
    big: 12n,
    flag: true,
    none: null,
    skipped: undefined,
    fn: () => 1,
    sym: Symbol('s'),
    err: new Error('key AIzaSyA1234567890abcdefghijklmnopqrstu'),
  }) as ProxyEvent,
  rawEvent({ ...base, type: 'request', ts: 'not a date', 'quote"key': 'line\nbreak "quoted" ünï' }) as ProxyEvent,
];

test('auditLine is exactly the JSON of toAuditRecord, one line, for every kind of field', () => {
  for (const event of events) {
    const line = auditLine(event);
    assert.ok(line.endsWith('}\n') && !line.slice(0, -1).includes('\n'), 'one newline-terminated line');
    const parsed = JSON.parse(line) as Record<string, unknown>;
    const expected = JSON.parse(JSON.stringify(toAuditRecord(event))) as Record<string, unknown>;
    if (event.ts === 'not a date') {
      assert.match(String(parsed.ts), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      parsed.ts = expected.ts;
    }
    assert.deepEqual(parsed, expected);
    assert.deepEqual(Object.keys(parsed), Object.keys(expected));
  }
});

test('auditLine redacts secret names and key-shaped text, keeps counts and converts the time to UTC', () => {
  const [response, error, intervention] = events.map((event) => JSON.parse(auditLine(event)) as Record<string, any>);
  assert.equal(response.ts, '2026-02-27T15:23:45.250Z');
  assert.equal(error.ts, '2026-02-27T15:23:45.250Z');
  assert.equal(error.error, 'upstream said Bearer [REDACTED]');
  assert.equal(intervention.api_key, '[REDACTED]');
  assert.equal(intervention.access_token, '[REDACTED]');
  assert.equal(intervention.tokens_in, 4);
  assert.equal(intervention.extra_tokens, '[REDACTED]');
  assert.equal(intervention.nested.authorization, '[REDACTED]');
  assert.equal(intervention.nested.list[1], 'Basic [REDACTED]');
  assert.ok(!auditLine(events[3]).includes('AIzaSy'), 'no key inside an error message');
});
