// Raw HTTP on the UI port: what node:http rejects answered in the UI's formats, never a 5xx; sign-in redirects stay on the site.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { call, overrideOnDisk, TOKEN } from './admin-random-setup.ts';

/** Writes raw bytes to the UI port and collects what comes back until the server closes (or a bounded wait passes). */
function rawExchange(url: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    let answer = '';
    const socket = connect(Number(port), hostname, () => socket.write(bytes));
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(answer));
    socket.setTimeout(5_000, () => socket.destroy());
  });
}

function parseRaw(answer: string): { status: number; headers: string; body: string } {
  const split = answer.indexOf('\r\n\r\n');
  const head = answer.slice(0, split);
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), headers: head.toLowerCase(), body: answer.slice(split + 4) };
}

describe('raw HTTP on the UI port', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ agents: { a: {} }, env: { CLLAMA_UI_TOKEN: TOKEN } });
  });
  after(() => h.close());

  it('answers what node:http rejects in the UI formats (JSON under /api/, text elsewhere), never a 5xx, and keeps serving', async () => {
    const auth = `Authorization: Bearer ${TOKEN}\r\n`;
    const big = `X-Big: ${'a'.repeat(20_000)}\r\n`;
    const cases: { bytes: string; status: number; json: boolean; code?: string }[] = [
      { bytes: 'GARBAGE /api/agents\r\n\r\n', status: 400, json: true, code: 'invalid_request' },
      { bytes: 'GARBAGE /metrics\r\n\r\n', status: 400, json: false },
      { bytes: `GET /api/agents HTTP/1.1\r\nHost: x\r\n${big}\r\n`, status: 431, json: true, code: 'headers_too_large' },
      { bytes: `GET /costs/api HTTP/1.1\r\nHost: x\r\n${big}\r\n`, status: 431, json: false },
      { bytes: `GET /api/agents HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n`, status: 400, json: true, code: 'invalid_request' },
      {
        bytes: `PUT /api/agents/a/override HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\nzz\r\n`,
        status: 400,
        json: true,
        code: 'invalid_request',
      },
      {
        bytes: `PUT /api/agents/a/override HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 10000000\r\nConnection: close\r\n\r\n{"reason":`,
        status: 413,
        json: true,
        code: 'payload_too_large',
      },
      {
        bytes: `PUT /api/agents/a/override HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n${'10000\r\n' + 'x'.repeat(0x10000) + '\r\n'}10\r\n${'x'.repeat(16)}\r\n0\r\n\r\n`,
        status: 413,
        json: true,
        code: 'payload_too_large',
      },
      { bytes: `GET http://[::1/api HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`, status: 400, json: false },
      { bytes: `GET // HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`, status: 404, json: false },
      { bytes: `GET //:99999/api/agents HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`, status: 404, json: false },
      { bytes: `GET /api/agents/%ZZ HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`, status: 404, json: true, code: 'not_found' },
    ];
    for (const testCase of cases) {
      const answer = parseRaw(await rawExchange(h.tollgate.uiUrl, testCase.bytes));
      const what = testCase.bytes.slice(0, 80);
      assert.equal(answer.status, testCase.status, `${what}: ${answer.headers} ${answer.body.slice(0, 200)}`);
      if (testCase.json) {
        assert.match(answer.headers, /content-type: application\/json/, what);
        assert.equal(JSON.parse(answer.body).error.code, testCase.code, what);
      } else {
        assert.match(answer.headers, /content-type: text\/plain/, what);
      }
    }
    assert.equal(overrideOnDisk(h, 'a'), null, 'no partial body was ever taken as an override');
    assert.equal((await call(h, '/api/summary')).status, 200, 'still serving');
  });

  it('a signed-in browser is sent back to a path on this site, never to //another-host', async () => {
    for (const target of ['//evil.example/x', '///evil.example/x', '/\\evil.example/x', '/%2F/evil.example']) {
      const answer = parseRaw(await rawExchange(h.tollgate.uiUrl, `GET ${target}?token=${TOKEN} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
      assert.equal(answer.status, 303, target);
      const location = /\r\nlocation: ([^\r]*)/.exec(answer.headers)?.[1] ?? '';
      assert.match(location, /^\/(?![/\\])/, `${target} is sent to ${location}`);
    }
  });
});
