import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../../src/observability/logger.ts';

function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>> } {
  let text = '';
  const stream = new Writable({
    write(chunk, _e, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return {
    stream,
    lines: () =>
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

test('operational lines carry level label, ISO time and message, without pid or hostname', () => {
  const out = capture();
  const logger = createLogger({ destination: out.stream });
  logger.info({ dir: './.tollgate' }, 'using local folder');
  const [line] = out.lines();
  assert.deepEqual(Object.keys(line).sort(), ['dir', 'level', 'msg', 'time']);
  assert.equal(line.level, 'info');
  assert.match(String(line.time), /^\d{4}-\d\d-\d\dT.*Z$/);
  assert.equal(line.msg, 'using local folder');
});

test('secrets are redacted from fields, messages and errors; levels filter', () => {
  const out = capture();
  const logger = createLogger({ destination: out.stream, level: 'warn' });
  logger.info('not shown');
  logger.warn(
    { provider: { api_key: 'sk-live-abcdefghijklmnopqrst' }, err: new Error('rejected Bearer a:s3cr3t') },
    'key %s refused',
    'sk-abcdefghijklmnopqrstuvwx',
  );
  const lines = out.lines();
  assert.equal(lines.length, 1);
  const text = JSON.stringify(lines[0]);
  for (const secret of ['sk-live-abcdefghijklmnopqrst', 'a:s3cr3t', 'sk-abcdefghijklmnopqrstuvwx']) assert.equal(text.includes(secret), false, secret);
  assert.deepEqual(lines[0].provider, { api_key: '[REDACTED]' });
  assert.equal(lines[0].msg, 'key [REDACTED] refused');
  assert.equal((lines[0].err as { message: string }).message, 'rejected Bearer [REDACTED]');
});
