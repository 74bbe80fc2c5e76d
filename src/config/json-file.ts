// Reading JSON files at start or on reload: regular files only, bounded in size, parse errors described by position only (never echoing content, which may hold secrets).
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';

export type JsonRead = { readonly kind: 'missing' } | { readonly kind: 'ok'; readonly value: unknown } | { readonly kind: 'error'; readonly problem: string };

/**
 * The largest configuration file read (metadata.json, budget-override.json, service-auth/*.json, providers.json): real
 * ones hold a few hundred bytes. A larger one is refused unread instead of held in memory and parsed on the event loop.
 */
export const MAX_JSON_FILE_BYTES = 1024 * 1024;

/**
 * Opened without blocking (a FIFO would hold the open, and a thread of the pool, until a writer came) and read only
 * when it is a regular file: a FIFO, /dev/zero or a socket, directly or through a symlink, is a problem, not a hang.
 */
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

export function readJsonFileSync(path: string, maxBytes = MAX_JSON_FILE_BYTES): JsonRead {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (error) {
    return readFailure(error);
  }
  try {
    const kind = fileKindProblem({ info: fstatSync(fd), maxBytes });
    if (kind) return { kind: 'error', problem: kind };
    const buffer = Buffer.allocUnsafe(maxBytes + 1);
    let length = 0;
    for (let read = -1; read !== 0 && length < buffer.length; ) {
      read = readSync(fd, buffer, length, buffer.length - length, null);
      length += read;
    }
    return parseRead({ buffer, length, maxBytes });
  } catch (error) {
    return readFailure(error);
  } finally {
    closeSync(fd);
  }
}

export async function readJsonFile(path: string, maxBytes = MAX_JSON_FILE_BYTES): Promise<JsonRead> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, OPEN_FLAGS);
  } catch (error) {
    return readFailure(error);
  }
  try {
    const info = await handle.stat();
    const kind = fileKindProblem({ info, maxBytes });
    if (kind) return { kind: 'error', problem: kind };
    // the size as stat saw it, plus one byte to notice a file that grew past the limit since
    const buffer = Buffer.allocUnsafe(Math.min(info.size, maxBytes) + 1);
    let length = 0;
    for (let read = -1; read !== 0 && length < buffer.length; ) {
      ({ bytesRead: read } = await handle.read(buffer, length, buffer.length - length, null));
      length += read;
    }
    if (length === buffer.length && length <= maxBytes) return await readGrown({ handle, head: buffer, maxBytes }); // awaited: the handle closes after
    return parseRead({ buffer, length, maxBytes });
  } catch (error) {
    return readFailure(error);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

export function parseJsonText(text: string): JsonRead {
  try {
    return { kind: 'ok', value: JSON.parse(text) };
  } catch (error) {
    return { kind: 'error', problem: `not valid JSON${jsonErrorPosition(text, error)}` };
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A file that grew while it was read (being written): the rest, up to the limit. */
async function readGrown(input: { handle: Awaited<ReturnType<typeof open>>; head: Buffer; maxBytes: number }): Promise<JsonRead> {
  const buffer = Buffer.allocUnsafe(input.maxBytes + 1);
  input.head.copy(buffer);
  let length = input.head.length;
  for (let read = -1; read !== 0 && length < buffer.length; ) {
    ({ bytesRead: read } = await input.handle.read(buffer, length, buffer.length - length, null));
    length += read;
  }
  return parseRead({ buffer, length, maxBytes: input.maxBytes });
}

function fileKindProblem(input: { info: { isFile(): boolean; size: number }; maxBytes: number }): string | null {
  if (!input.info.isFile()) return 'not a regular file';
  if (input.info.size > input.maxBytes) return `too large (${input.info.size} bytes; at most ${input.maxBytes} are read)`;
  return null;
}

function parseRead(input: { buffer: Buffer; length: number; maxBytes: number }): JsonRead {
  if (input.length > input.maxBytes) return { kind: 'error', problem: `too large (over ${input.maxBytes} bytes)` };
  return parseJsonText(input.buffer.toString('utf8', 0, input.length));
}

function readFailure(error: unknown): JsonRead {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return { kind: 'missing' };
  return { kind: 'error', problem: `cannot be read (${code ?? 'unknown error'})` };
}

/** V8's messages quote the text around the error; we keep only where it is. */
function jsonErrorPosition(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : '';
  if (text.trim() === '') return ' (the file is empty)';
  const match = /position (\d+)/.exec(message);
  if (!match) return /end of JSON input/i.test(message) ? ' (it ends too early)' : '';
  const offset = Number(match[1]);
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return ` (at line ${line}, column ${column})`;
}
