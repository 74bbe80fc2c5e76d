import { test } from 'node:test';
import assert from 'node:assert/strict';
import { secretDigest, secretMatchesDigest, secretsEqual } from '../../../src/auth/secret-compare.ts';
import { storedSecret } from '../../../src/auth/stored-token.ts';

test('secretsEqual: equal, different, different lengths, empty', () => {
  assert.equal(secretsEqual('abc', 'abc'), true);
  assert.equal(secretsEqual('abc', 'abd'), false);
  assert.equal(secretsEqual('abc', 'abcd'), false, 'different lengths compare without throwing');
  assert.equal(secretsEqual('', ''), true);
  assert.equal(secretsEqual('', 'x'), false);
  assert.equal(secretsEqual('ünï', 'ünï'), true);
});

test('secretMatchesDigest compares against a precomputed digest', () => {
  const digest = secretDigest('s3cret');
  assert.equal(secretMatchesDigest('s3cret', digest), true);
  assert.equal(secretMatchesDigest('s3cre', digest), false);
});

const storedCases: Array<{ name: string; token: unknown; secret?: string; problem?: RegExp }> = [
  { name: 'agent:secret form', token: 'a:s', secret: 's' },
  { name: 'colons in the secret', token: 'a:secret:with:colons', secret: 'secret:with:colons' },
  { name: 'whole string is the secret without a colon', token: 'plain-secret', secret: 'plain-secret' },
  { name: 'trimmed', token: '  a:s \n', secret: 's' },
  { name: 'leading bearer stripped (any case)', token: 'BEARER a:s', secret: 's' },
  { name: 'empty agent part keeps the secret', token: ':s', secret: 's' },
  { name: 'other agent named', token: 'b:s', problem: /different agent/ },
  { name: 'missing', token: undefined, problem: /missing/ },
  { name: 'not a string', token: 42, problem: /must be a string/ },
  { name: 'blank', token: '   ', problem: /empty/ },
  { name: 'empty secret after colon', token: 'a:', problem: /empty secret/ },
];

for (const { name, token, secret, problem } of storedCases) {
  test(`storedSecret: ${name}`, () => {
    const result = storedSecret({ agentId: 'a', token });
    if (secret !== undefined) {
      assert.deepEqual(result, { ok: true, secret });
    } else {
      assert.equal(result.ok, false);
      if (!result.ok) {
        assert.match(result.problem, problem!);
        if (typeof token === 'string' && token.trim()) assert.ok(!result.problem.includes(token.trim()), 'the token never appears in a problem');
      }
    }
  });
}
