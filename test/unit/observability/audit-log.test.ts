import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { EventBus } from '../../../src/observability/events.ts';
import { attachAuditLog } from '../../../src/observability/audit-log.ts';
import { rawEvent } from '../../helpers/raw-event.ts';

function captureStream(): { stream: Writable; lines: () => Array<Record<string, unknown>>; raw: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  return {
    stream,
    raw: () => text,
    lines: () =>
      text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

test('a response event is one line with ts, type, claw_id, model, intervention first, then its own fields, and no pino noise', async () => {
  const bus = new EventBus();
  const out = captureStream();
  const audit = attachAuditLog({ bus, destination: out.stream });
  bus.emit(
    rawEvent({
      type: 'response',
      ts: '2026-02-27T16:23:45.250+01:00',
      claw_id: 'tiverton',
      model: 'openai/gpt-4o',
      intervention: null,
      latency_ms: 1250,
      status_code: 200,
      tokens_in: 100,
      tokens_out: 50,
      cost_usd: 0.00075,
    }),
  );
  await audit.flush();
  assert.equal(out.raw().split('\n').length, 2, 'exactly one newline-terminated line');
  const [line] = out.lines();
  assert.deepEqual(Object.keys(line), ['ts', 'type', 'claw_id', 'model', 'intervention', 'latency_ms', 'status_code', 'tokens_in', 'tokens_out', 'cost_usd']);
  assert.deepEqual(line, {
    ts: '2026-02-27T15:23:45.250Z',
    type: 'response',
    claw_id: 'tiverton',
    model: 'openai/gpt-4o',
    intervention: null,
    latency_ms: 1250,
    status_code: 200,
    tokens_in: 100,
    tokens_out: 50,
    cost_usd: 0.00075,
  });
  audit();
});

test('claw_id, model and intervention are always present; intervention carries its name when set; undefined fields are dropped', async () => {
  const bus = new EventBus();
  const out = captureStream();
  const audit = attachAuditLog({ bus, destination: out.stream });
  bus.emit(rawEvent({ type: 'error', claw_id: null, model: null, intervention: null, status_code: 0, error: 'listen failed', extra: undefined }));
  bus.emit({ type: 'intervention', claw_id: 'a', model: 'gpt-4o', intervention: 'budget_exceeded', request_id: 'r1' });
  await audit.flush();
  const [error, intervention] = out.lines();
  assert.deepEqual(Object.keys(error), ['ts', 'type', 'claw_id', 'model', 'intervention', 'status_code', 'error']);
  assert.equal(error.claw_id, null);
  assert.equal(error.intervention, null);
  assert.match(String(error.ts), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  assert.equal(intervention.intervention, 'budget_exceeded');
  audit.detach();
});

test('no secret survives: secret-named keys at any depth and key-shaped strings are redacted', async () => {
  const bus = new EventBus();
  const out = captureStream();
  const audit = attachAuditLog({ bus, destination: out.stream });
  const secrets = [
    'sk-proj-AAAAAAAAAAAAAAAAAAAAAAAA',
    'agent-secret-1',
    'sk-ant-api03-BBBBBBBBBBBBBBBBBBBB',
    'raw-token-2',
    'shh-3',
    'AIzaSyCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC',
    'ui-admin-4',
    'x:agentsecret5',
    'hist-6',
  ];
  bus.emit(
    rawEvent({
      type: 'error',
      claw_id: 'a',
      model: 'gpt-4o',
      intervention: null,
      authorization: `Bearer ${secrets[0]}`,
      token: secrets[1],
      upstream: { headers: { 'X-Api-Key': secrets[2], Authorization: 'Basic dXNlcjpwYXNz' }, api_key: secrets[3] },
      policy: [{ secret: secrets[4] }, { apiKey: secrets[5] }],
      ui_token: secrets[6],
      error: `upstream 401 for Bearer ${secrets[7]} with key ${secrets[0]} and ${secrets[5]}`,
      historyTokens: [secrets[8]],
      tokens_in: 12,
      cache_write_tokens: 3,
    }),
  );
  await audit.flush();
  const raw = out.raw();
  for (const secret of secrets) assert.equal(raw.includes(secret), false, `leaked ${secret}`);
  assert.equal(raw.includes('dXNlcjpwYXNz'), false);
  const [line] = out.lines();
  assert.equal(line.authorization, '[REDACTED]');
  assert.equal(line.token, '[REDACTED]');
  assert.deepEqual(line.upstream, { headers: { 'X-Api-Key': '[REDACTED]', Authorization: '[REDACTED]' }, api_key: '[REDACTED]' });
  assert.deepEqual(line.policy, [{ secret: '[REDACTED]' }, { apiKey: '[REDACTED]' }]);
  assert.equal(line.error, 'upstream 401 for Bearer [REDACTED] with key [REDACTED] and [REDACTED]');
  assert.equal(line.tokens_in, 12, 'token counts are not secrets');
  assert.equal(line.cache_write_tokens, 3);
  audit();
});

test('redaction copes with cycles and leaves the emitted event untouched', async () => {
  const bus = new EventBus();
  const out = captureStream();
  const audit = attachAuditLog({ bus, destination: out.stream });
  const detail: Record<string, unknown> = { token: 't0psecret' };
  detail.self = detail;
  bus.emit(rawEvent({ type: 'policy_error', claw_id: 'a', model: null, intervention: null, detail }));
  await audit.flush();
  const [line] = out.lines();
  assert.deepEqual(line.detail, { token: '[REDACTED]', self: '[Circular]' });
  assert.equal(detail.token, 't0psecret');
  audit();
});

test('detaching stops the log; level silent writes nothing', async () => {
  const bus = new EventBus();
  const out = captureStream();
  const audit = attachAuditLog({ bus, destination: out.stream });
  bus.emit(rawEvent({ type: 'request', claw_id: 'a', model: 'm', intervention: null }));
  audit();
  audit(); // idempotent
  bus.emit(rawEvent({ type: 'request', claw_id: 'a', model: 'm', intervention: null }));
  await audit.flush();
  assert.equal(out.lines().length, 1);

  const silentOut = captureStream();
  const silent = attachAuditLog({ bus, destination: silentOut.stream, level: 'silent' });
  bus.emit(rawEvent({ type: 'request', claw_id: 'a', model: 'm', intervention: null }));
  await silent.flush();
  assert.equal(silentOut.raw(), '');
  silent();
});

test('with an asynchronous pino destination, flush() puts every line on disk', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-audit-'));
  try {
    const file = join(dir, 'audit.jsonl');
    const destination = pino.destination({ dest: file, sync: false, minLength: 4096, mkdir: true });
    await new Promise((resolve) => destination.once('ready', resolve));
    const bus = new EventBus();
    const audit = attachAuditLog({ bus, destination });
    for (let i = 0; i < 500; i += 1) bus.emit(rawEvent({ type: 'response', claw_id: 'a', model: 'm', intervention: null, request_id: `r${i}` }));
    await audit.flush();
    const lines = (await readFile(file, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { request_id: string });
    assert.deepEqual(
      lines.map((l) => l.request_id),
      Array.from({ length: 500 }, (_, i) => `r${i}`),
    );
    audit();
    destination.end();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
