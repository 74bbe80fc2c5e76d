// The dashboard's static files, read once into memory when the module loads, with content type and ETag.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Asset {
  readonly body: Buffer;
  readonly contentType: string;
  readonly etag: string;
}

const STATIC_DIR = fileURLToPath(new URL('./static/', import.meta.url));

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** Every servable file of `dir` by URL path: `/` for index.html, `/assets/<name>` for the rest (type declarations excluded). */
export function loadDashboardAssets(dir: string = STATIC_DIR): ReadonlyMap<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir).sort()) {
    const contentType = CONTENT_TYPES[extname(name)];
    if (!contentType || name.endsWith('.d.ts')) continue;
    const body = readFileSync(join(dir, name));
    const asset = { body, contentType, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
    if (name === 'index.html') assets.set('/', asset);
    else assets.set(`/assets/${name}`, asset);
  }
  return assets;
}
