import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearerToken, parseAgentCredentials, splitAgentToken } from '../../../src/auth/token.ts';

const cases: Array<{ name: string; authorization?: string; xApiKey?: string; expected: { agentId: string; secret: string } | null }> = [
  { name: 'plain bearer (spec: tiverton)', authorization: 'Bearer tiverton:abc123def456', expected: { agentId: 'tiverton', secret: 'abc123def456' } },
  {
    name: 'colons stay in the secret (spec case 5)',
    authorization: 'Bearer bot-a:secret:with:colons',
    expected: { agentId: 'bot-a', secret: 'secret:with:colons' },
  },
  { name: 'scheme is case-insensitive', authorization: 'bEaReR a:s', expected: { agentId: 'a', secret: 's' } },
  { name: 'surrounding whitespace is trimmed', authorization: '  Bearer   a:s  ', expected: { agentId: 'a', secret: 's' } },
  { name: 'Basic scheme is refused (spec case 2)', authorization: 'Basic a:s', expected: null },
  { name: 'no colon is refused (spec case 2)', authorization: 'Bearer nocolon', expected: null },
  { name: 'empty header', authorization: '', expected: null },
  { name: 'nothing at all (spec case 1)', expected: null },
  { name: 'scheme without token', authorization: 'Bearer', expected: null },
  { name: 'scheme and blanks', authorization: 'Bearer    ', expected: null },
  { name: 'empty agent id', authorization: 'Bearer :secret', expected: null },
  { name: 'empty secret', authorization: 'Bearer a:', expected: null },
  { name: 'bare token without scheme', authorization: 'a:s', expected: null },
  { name: 'x-api-key when Authorization is absent (spec case 6)', xApiKey: 'a:s', expected: { agentId: 'a', secret: 's' } },
  { name: 'x-api-key when Authorization is blank', authorization: '   ', xApiKey: ' a:s ', expected: { agentId: 'a', secret: 's' } },
  {
    name: 'x-api-key is taken raw as in cllama: a scheme inside becomes part of the id, which no agent has',
    xApiKey: 'Bearer a:s',
    expected: { agentId: 'Bearer a', secret: 's' },
  },
  { name: 'malformed Authorization does not fall back to x-api-key', authorization: 'Basic a:s', xApiKey: 'a:s', expected: null },
  { name: 'Authorization wins over x-api-key', authorization: 'Bearer a:one', xApiKey: 'b:two', expected: { agentId: 'a', secret: 'one' } },
  { name: 'x-api-key without colon', xApiKey: 'sk-ant-123', expected: null },
  { name: 'path-like id is parsed (refused later by the registry)', authorization: 'Bearer ../etc:s', expected: { agentId: '../etc', secret: 's' } },
];

for (const { name, authorization, xApiKey, expected } of cases) {
  test(`parseAgentCredentials: ${name}`, () => {
    assert.deepEqual(parseAgentCredentials({ authorization, xApiKey }), expected);
  });
}

test('splitAgentToken splits on the first colon only', () => {
  assert.deepEqual(splitAgentToken('a:b:c'), { agentId: 'a', secret: 'b:c' });
  assert.equal(splitAgentToken('abc'), null);
});

test('bearerToken: the one parser of the API port, /history and the UI port', () => {
  assert.equal(bearerToken('Bearer abc'), 'abc');
  assert.equal(bearerToken('  bEaReR   a:b:c  '), 'a:b:c');
  assert.equal(bearerToken('Bearer'), null);
  assert.equal(bearerToken('Bearer    '), null);
  assert.equal(bearerToken('Basic abc'), null);
  assert.equal(bearerToken('Bearerabc'), null);
  assert.equal(bearerToken('Bearer\tabc'), null, 'scheme and token are separated by spaces (RFC 7235), on every port alike');
  assert.equal(bearerToken(undefined), null);
});

test('an agent credential is a bearer token split on its first colon: one verdict for every header', () => {
  const headers = ['Bearer a:s', ' bearer  a:s:t ', 'Bearer\ta:s', 'Bearer', 'Bearer :s', 'Bearer a:', 'Basic a:s', 'a:s', 'Bearer  ', 'BEARER x'];
  for (const authorization of headers) {
    const token = bearerToken(authorization);
    assert.deepEqual(parseAgentCredentials({ authorization }), token === null ? null : splitAgentToken(token), JSON.stringify(authorization));
  }
});
