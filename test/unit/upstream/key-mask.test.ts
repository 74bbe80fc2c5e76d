import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { downstreamResponseHeaders } from '../../../src/upstream/headers.ts';
import { redirectRefused } from '../../../src/upstream/redirect.ts';
import type { UpstreamResponse } from '../../../src/upstream/client.ts';
import { seededRandom } from '../../helpers/random.ts';

const KEY = 'zq7-provider-key-material-0123456789';
const keys = [{ id: 'k', label: 'primary', secret: KEY }];

test('relayed response headers never carry the provider key; other headers pass unchanged (seeded)', () => {
  const random = seededRandom(Number(process.env.IDENTITY_SEED ?? 20260611));
  for (let i = 0; i < 200; i++) {
    const upstream: Record<string, string | string[]> = { 'content-type': 'application/json', 'x-request-id': `req-${i}` };
    const at = () => (random() < 0.5 ? KEY : `x${KEY}y`);
    if (random() < 0.5) upstream['www-authenticate'] = `Bearer realm="api", error="invalid_token", token="${at()}"`;
    if (random() < 0.5) upstream['set-cookie'] = [`a=${at()}`, 'b=1', `${KEY}${KEY}`];
    if (random() < 0.5) upstream['x-debug'] = at();
    const out = downstreamResponseHeaders({ upstream, keepLength: false, keysToMask: keys });
    assert.ok(!JSON.stringify(out).includes(KEY), JSON.stringify(out));
    assert.equal(out['content-type'], 'application/json');
    assert.equal(out['x-request-id'], `req-${i}`);
    if (upstream['set-cookie']) assert.deepEqual((out['set-cookie'] as string[]).slice(1), ['b=1', '[REDACTED]']);
  }
  const open = downstreamResponseHeaders({ upstream: { 'x-debug': KEY }, keepLength: false, keysToMask: [] });
  assert.equal(open['x-debug'], KEY, 'a provider that sends no credential has nothing to mask');
});

function redirect(location: string): UpstreamResponse {
  const body = Readable.from([]) as unknown as UpstreamResponse['body'];
  (body as unknown as { bytes: () => Promise<Buffer> }).bytes = async () => Buffer.alloc(0);
  return { statusCode: 302, headers: { location }, body };
}

test('a redirect is described by origin and path, unless the target holds the key (path, host in any case, credentials, query)', async () => {
  const said = async (location: string) => (await redirectRefused({ upstream: redirect(location), keysToMask: keys })).message;
  assert.match(await said('https://api.example.com/v2/chat?x=1'), /redirect to https:\/\/api\.example\.com\/v2\/chat;/);
  for (const location of [`https://e.example/${KEY}/v1`, `https://${KEY.toUpperCase()}.example/v1`, `https://u:${KEY}@e.example/v1`, `/v1?key=${KEY}`]) {
    const message = await said(location);
    assert.ok(!message.toLowerCase().includes(KEY.toLowerCase()), message);
    assert.match(message, /a location that holds the provider key/);
  }
});
