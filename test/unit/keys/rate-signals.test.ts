// What an upstream answer says about its key: cllama's dead/cooldown rules, and the cooldown read from provider headers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cooldownFromHeaders, goDuration, headroomFromHeaders, judgeAnswer } from '../../../src/keys/rate-signals.ts';

const NOW = Date.parse('2026-12-07T10:00:00Z');
const judge = (status: number, headers: Record<string, string> = {}, bodyHead = '') => judgeAnswer({ status, headers, bodyHead, now: NOW });

describe('judgeAnswer (cllama classifyResponse)', () => {
  it('401, 402, 403 kill the key; a 429 speaking of quota or billing too; others are not about the key', () => {
    for (const status of [401, 402, 403]) assert.deepEqual(judge(status), { kind: 'dead', code: status, reason: `http_${status}` });
    assert.deepEqual(judge(429, {}, '{"error":{"code":"insufficient_quota"}}'), { kind: 'dead', code: 429, reason: 'http_429' });
    assert.deepEqual(judge(429, {}, 'You EXCEEDED YOUR CURRENT QUOTA'), { kind: 'dead', code: 429, reason: 'http_429' });
    assert.deepEqual(judge(429, {}, 'check your Billing details'), { kind: 'dead', code: 429, reason: 'http_429' });
    for (const status of [200, 400, 404, 500, 503]) assert.equal(judge(status), null);
  });

  it('cllama TestParseCooldownDuration: Retry-After seconds capped at 60, 10 s when absent, 0 or not a number', () => {
    const ms = (value?: string) => {
      const verdict = judge(429, value === undefined ? {} : { 'retry-after': value });
      assert.equal(verdict?.kind, 'cooldown');
      return verdict?.kind === 'cooldown' ? verdict.ms : -1;
    };
    assert.equal(ms('5'), 5000);
    assert.equal(ms('120'), 60_000);
    assert.equal(ms(), 10_000);
    assert.equal(ms('0'), 10_000);
    assert.equal(ms('abc'), 10_000);
  });
});

describe('cooldownFromHeaders (better than cllama: what the provider says)', () => {
  it('retry-after-ms first, exact to the millisecond', () => {
    assert.deepEqual(cooldownFromHeaders({ 'retry-after-ms': '1234.5', 'retry-after': '9' }, NOW), { ms: 1235, source: 'retry-after-ms' });
  });

  it('retry-after as an HTTP date', () => {
    assert.deepEqual(cooldownFromHeaders({ 'retry-after': new Date(NOW + 7000).toUTCString() }, NOW), { ms: 7000, source: 'retry-after' });
  });

  it("OpenAI's reset headers: the exhausted limit's, else the later", () => {
    assert.deepEqual(
      cooldownFromHeaders(
        {
          'x-ratelimit-reset-requests': '2s',
          'x-ratelimit-reset-tokens': '6m0s',
          'x-ratelimit-remaining-requests': '0',
          'x-ratelimit-remaining-tokens': '100',
        },
        NOW,
      ),
      { ms: 2000, source: 'x-ratelimit-reset' },
    );
    assert.deepEqual(cooldownFromHeaders({ 'x-ratelimit-reset-requests': '20ms', 'x-ratelimit-reset-tokens': '1.5s' }, NOW), {
      ms: 1500,
      source: 'x-ratelimit-reset',
    });
    assert.deepEqual(cooldownFromHeaders({ 'x-ratelimit-reset-tokens': '6m0s' }, NOW), { ms: 60_000, source: 'x-ratelimit-reset' }, 'capped at 60 s');
  });

  it("Anthropic's RFC 3339 resets", () => {
    const at = (ms: number) => new Date(NOW + ms).toISOString();
    assert.deepEqual(
      cooldownFromHeaders(
        { 'anthropic-ratelimit-requests-reset': at(3000), 'anthropic-ratelimit-requests-remaining': '0', 'anthropic-ratelimit-tokens-reset': at(9000) },
        NOW,
      ),
      { ms: 3000, source: 'anthropic-ratelimit-reset' },
    );
  });

  it('nothing usable: null (a reset in the past, garbage)', () => {
    assert.equal(
      cooldownFromHeaders({ 'x-ratelimit-reset-requests': 'soon', 'anthropic-ratelimit-requests-reset': new Date(NOW - 1000).toISOString() }, NOW),
      null,
    );
  });

  it('Go durations', () => {
    assert.equal(goDuration('1h2m3.5s'), 3_723_500);
    assert.equal(goDuration('250ms'), 250);
    assert.equal(goDuration('5'), null);
    assert.equal(goDuration('5s later'), null);
  });

  it('headroom from either provider', () => {
    assert.deepEqual(headroomFromHeaders({ 'x-ratelimit-remaining-requests': '42', 'x-ratelimit-remaining-tokens': '9000' }), { requests: 42, tokens: 9000 });
    assert.deepEqual(headroomFromHeaders({ 'anthropic-ratelimit-requests-remaining': '7' }), { requests: 7, tokens: null });
    assert.equal(headroomFromHeaders({}), null);
  });
});
