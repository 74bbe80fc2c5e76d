// What a stream told about its usage and end, and the helpers that read a whole body (BOM dropped, JSON parsed once).
import type { Usage } from '../protocol/usage.ts';

export type { StreamUsageReader } from '../protocol/protocol.ts';

/** What a stream told about its usage and its end, read as it passed (or afterwards, from its decoded text). */
export interface StreamFacts {
  readonly usage: Usage | null;
  readonly finalUsage: boolean;
  readonly terminated: boolean;
  /** UTF-8 bytes of the text its events generated (`generatedBytes`). */
  readonly generatedBytes: number;
}

/**
 * A whole body's text without the byte-order mark some servers put first: it is not part of the content (a client
 * decoding UTF-8, as fetch's `json()` does, drops it), and JSON.parse, like a history line holding the body, refuses it.
 */
export function withoutBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Parses a whole response body once; undefined when it is not JSON. */
export function parseJsonBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
