// Reading JSON files at start or on reload, with parse errors described by position only (never echoing content, which may hold secrets).
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

export type JsonRead =
  | { readonly kind: 'missing' }
  | { readonly kind: 'ok'; readonly value: unknown }
  | { readonly kind: 'error'; readonly problem: string };

export function readJsonFileSync(path: string): JsonRead {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    return readFailure(error);
  }
  return parseJsonText(text);
}

export async function readJsonFile(path: string): Promise<JsonRead> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    return readFailure(error);
  }
  return parseJsonText(text);
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
