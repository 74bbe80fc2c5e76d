// The dashboard route: page and assets from memory with the right types, ETag revalidation, HEAD, and nothing else.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dashboardRoute, isDashboardAsset } from '../../../src/dashboard/routes.ts';

describe('dashboardRoute', () => {
  let server: Server;
  let base: string;
  before(async () => {
    server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (!dashboardRoute(req, res, path)) {
        res.writeHead(404);
        res.end('not the dashboard');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('serves the page and its modules with types and a strict content security policy', async () => {
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
    const html = await page.text();
    for (const [, src] of html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)) {
      const asset = await fetch(`${base}${src}`);
      assert.equal(asset.status, 200, src);
      await asset.arrayBuffer();
    }
    const app = await fetch(`${base}/assets/app.js`);
    assert.equal(app.headers.get('content-type'), 'text/javascript; charset=utf-8');
    const source = await app.text();
    for (const [, name] of source.matchAll(/from '\.\/([\w-]+\.js)'/g)) assert.equal((await fetch(`${base}/assets/${name}`)).status, 200, name);
  });

  it('answers 304 to a matching If-None-Match and no body to HEAD', async () => {
    const first = await fetch(`${base}/assets/app.css`);
    const etag = first.headers.get('etag')!;
    await first.arrayBuffer();
    assert.ok(etag);
    const again = await fetch(`${base}/assets/app.css`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    const head = await fetch(`${base}/`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
  });

  it('leaves every other path and method to the caller', async () => {
    for (const path of ['/api/agents', '/assets/format.d.ts', '/assets/../routes.ts', '/favicon.ico', '/assets/nope.js']) {
      assert.equal((await fetch(`${base}${path}`)).status, 404, path);
    }
    assert.equal((await fetch(`${base}/`, { method: 'POST' })).status, 404);
    assert.equal(isDashboardAsset('/'), true);
    assert.equal(isDashboardAsset('/assets/app.js?v=1'), true);
    assert.equal(isDashboardAsset('/api/summary'), false);
  });
});
