// The dashboard on the UI port: serves the page and its assets from memory (GET/HEAD), or returns false to let the caller 404.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { loadDashboardAssets, type Asset } from './assets.ts';

/** Read once at start-up (module load), never per request. */
const ASSETS = loadDashboardAssets();

/** The page talks (and posts its key forms) only to its own origin; no inline script or style; never framed; no referrer. */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/**
 * True for the page shell and its assets. They hold no data (every number comes from /api/ with the token), so a UI
 * server may serve them before authorising, which lets the page take its token from `#token=` or a prompt.
 */
export function isDashboardAsset(path: string): boolean {
  const pathname = path.split('?')[0];
  return ASSETS.has(pathname === '/index.html' ? '/' : pathname);
}

/** Called by the UI server for every path that is not an API route, after the caller is authorised. */
export function dashboardRoute(req: IncomingMessage, res: ServerResponse, path: string): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const pathname = path.split('?')[0];
  const asset = ASSETS.get(pathname === '/index.html' ? '/' : pathname);
  if (!asset) return false;
  sendAsset(req, res, asset);
  return true;
}

function sendAsset(req: IncomingMessage, res: ServerResponse, asset: Asset): void {
  const headers = { ...SECURITY_HEADERS, etag: asset.etag, 'cache-control': 'no-cache' };
  if (req.headers['if-none-match'] === asset.etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, 'content-type': asset.contentType, 'content-length': asset.body.length });
  res.end(req.method === 'HEAD' ? undefined : asset.body);
}
