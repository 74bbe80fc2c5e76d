// The audit line's cache of masked texts: a secret learnt after a text was first logged is masked in every later line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { auditLine } from '../../../src/observability/audit-log.ts';
import type { ProxyEvent } from '../../../src/observability/events.ts';
import { LogSecrets } from '../../../src/observability/log-secrets.ts';
import { rawEvent } from '../../helpers/raw-event.ts';

const AGENT_SECRET = 'agent-secret-7f3a9c2e5b1d';
const PROVIDER_KEY = 'sk-proj-Q8w2Zr5Tn1Lx7Vb4';

/** Every text field an agent or an upstream can fill, holding the secret (the path and model are the agent's to choose). */
function eventWith(secret: string): ProxyEvent {
  return rawEvent({
    ts: '2026-02-27T15:23:45.250Z',
    type: 'response',
    claw_id: 'a',
    model: `m-${secret}`,
    intervention: null,
    request_id: 'r1',
    path: `/v1/${secret}`,
    provider: 'openai',
    upstream_model: `u-${secret}`,
  }) as ProxyEvent;
}

test('texts logged before an agent secret was known are masked once it is', () => {
  const secrets = new LogSecrets([]);
  const before = auditLine(eventWith(AGENT_SECRET), secrets);
  assert.ok(before.includes(AGENT_SECRET), 'not a known secret yet: logged as it is');
  secrets.setAgentSecrets([AGENT_SECRET]);
  const after = auditLine(eventWith(AGENT_SECRET), secrets);
  assert.ok(!after.includes(AGENT_SECRET.slice(0, 12)), after);
  assert.equal(JSON.parse(after).path, '/v1/[REDACTED]');
  assert.equal(JSON.parse(after).model, 'm-[REDACTED]');
});

test('a provider key added while running is masked in texts logged before', () => {
  const secrets = new LogSecrets(['ui-token-0123456789abcdef']);
  auditLine(eventWith(PROVIDER_KEY), secrets);
  secrets.addProviderSecret(PROVIDER_KEY);
  const after = auditLine(eventWith(PROVIDER_KEY), secrets);
  assert.ok(!after.includes(PROVIDER_KEY.slice(-12)), after);
  assert.equal(JSON.parse(after).upstream_model, 'u-[REDACTED]');
});

test('another set of secrets does not reuse what the first one masked (or left as it was)', () => {
  const none = new LogSecrets([]);
  const some = new LogSecrets([PROVIDER_KEY]);
  for (let round = 0; round < 3; round++) {
    assert.ok(auditLine(eventWith(PROVIDER_KEY), none).includes(PROVIDER_KEY));
    assert.ok(!auditLine(eventWith(PROVIDER_KEY), some).includes(PROVIDER_KEY));
    assert.ok(auditLine(eventWith(PROVIDER_KEY)).includes(PROVIDER_KEY), 'no secrets given: nothing masked');
  }
});
