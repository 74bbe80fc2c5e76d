// Module hooks: a file:// .ts module has its types stripped by esbuild on first import; everything else loads as Node loads it.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transform, version } from 'esbuild';

/**
 * esbuild's transform, as tsx runs it but without `keepNames`: the sources are not minified, so every function keeps
 * its name anyway, and keepNames wraps each function expression in a `__name()` call (an Object.defineProperty each
 * time a closure is made, ~2% of a governed call's CPU).
 */
const OPTIONS = { loader: 'ts', format: 'esm', target: 'node20', sourcemap: 'inline' };

/**
 * Transformed modules are kept by content hash (as tsx keeps its own), so a restart does not transform ~300 files
 * again (~0.3 s of start-up): in TOLLGATE_TS_CACHE, else a folder of this user's in the temp dir. A folder that is
 * not this user's own and private (another user could plant code there) is not used; nor is one that cannot be made.
 */
const cacheDir = usableCacheDir(process.env.TOLLGATE_TS_CACHE || join(tmpdir(), `tollgate-ts-${process.getuid?.() ?? 'user'}`));
const SALT = `${version}\n${JSON.stringify(OPTIONS)}\n`;

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
  const file = fileURLToPath(url);
  const source = await readFile(file, 'utf8');
  const cached = cacheDir && join(cacheDir, `${createHash('sha256').update(SALT).update(file).update('\n').update(source).digest('hex')}.mjs`);
  const hit = cached && readCached(cached);
  if (hit) return { format: 'module', source: hit, shortCircuit: true };
  const { code } = await transform(source, { ...OPTIONS, sourcefile: file });
  if (cached) writeCached(cached, code);
  return { format: 'module', source: code, shortCircuit: true };
}

function usableCacheDir(dir) {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stat = statSync(dir);
    const own = process.getuid === undefined || stat.uid === process.getuid();
    return stat.isDirectory() && own && (stat.mode & 0o077) === 0 ? dir : null;
  } catch {
    return null;
  }
}

function readCached(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** Written aside, then renamed: a start that dies mid-write, or two starting at once, never leave half a module. */
function writeCached(path, code) {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, code, { mode: 0o600 });
    renameSync(temporary, path);
  } catch {
    // a cache that cannot be written costs the next start its transforms, nothing more
  }
}
