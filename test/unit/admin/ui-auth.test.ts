// UiAuth: who may read, write and follow the live feed on the UI port.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { bearerToken } from '../../../src/auth/token.ts';
import { SESSION_COOKIE, UiAuth } from '../../../src/admin/ui-auth.ts';

function request(headers: Record<string, string> = {}): IncomingMessage {
  return { headers: { host: 'ui.local:8081', ...headers } } as unknown as IncomingMessage;
}

describe('UiAuth', () => {
  it('without a token: reads and the feed are open, writes are refused whatever is presented', () => {
    const auth = new UiAuth(null);
    assert.deepEqual(auth.decide(request(), { kind: 'read' }), { ok: true });
    assert.deepEqual(auth.decide(request(), { kind: 'feed' }), { ok: true });
    const write = auth.decide(request({ authorization: 'Bearer anything' }), { kind: 'write' });
    assert.equal(write.ok, false);
    assert.equal(!write.ok && write.code, 'writes_disabled');
    assert.equal(new UiAuth('').tokenConfigured, false, 'an empty token is no token');
  });

  it('with a token: missing or wrong is unauthorized, right is allowed for every kind', () => {
    const auth = new UiAuth('s3cret');
    for (const kind of ['read', 'write', 'feed'] as const) {
      const missing = auth.decide(request(), { kind });
      assert.equal(!missing.ok && missing.code, 'unauthorized');
      const wrong = auth.decide(request({ authorization: 'Bearer s3cre' }), { kind });
      assert.equal(!wrong.ok && wrong.code, 'unauthorized');
      assert.deepEqual(auth.decide(request({ authorization: 'bearer s3cret' }), { kind }), { ok: true });
    }
    assert.equal(auth.decide(request({ authorization: 'Basic s3cret' }), { kind: 'read' }).ok, false);
  });

  it('accepts ?token= only on the feed', () => {
    const auth = new UiAuth('s3cret');
    assert.deepEqual(auth.decide(request(), { kind: 'feed', queryToken: 's3cret' }), { ok: true });
    assert.equal(auth.decide(request(), { kind: 'feed', queryToken: 'nope' }).ok, false);
    assert.equal(auth.decide(request(), { kind: 'read', queryToken: 's3cret' }).ok, false);
  });

  it('issues a session cookie that is not the token and accepts it for reads, and for writes from the same origin only', () => {
    const auth = new UiAuth('s3cret');
    const cookie = auth.sessionCookie();
    assert.ok(!cookie.includes('s3cret'));
    assert.match(cookie, /HttpOnly; SameSite=Strict; Path=\//);
    const value = `${SESSION_COOKIE}=${auth.sessionValue}`;
    assert.deepEqual(auth.decide(request({ cookie: `other=1; ${value}` }), { kind: 'read' }), { ok: true });
    assert.deepEqual(auth.decide(request({ cookie: value }), { kind: 'write' }), { ok: true }, 'no Origin: not a cross-site browser request');
    assert.deepEqual(auth.decide(request({ cookie: value, origin: 'http://ui.local:8081' }), { kind: 'write' }), { ok: true });
    const cross = auth.decide(request({ cookie: value, origin: 'https://evil.example' }), { kind: 'write' });
    assert.equal(!cross.ok && cross.code, 'forbidden');
    assert.equal(auth.decide(request({ cookie: `${SESSION_COOKIE}=forged` }), { kind: 'read' }).ok, false);
    assert.notEqual(new UiAuth('rotated').sessionValue, auth.sessionValue, 'a new token invalidates old cookies');
  });

  it('reads the bearer token', () => {
    assert.equal(bearerToken('Bearer abc'), 'abc');
    assert.equal(bearerToken('  BEARER   abc  '), 'abc');
    assert.equal(bearerToken('Basic abc'), null);
    assert.equal(bearerToken(undefined), null);
  });
});
