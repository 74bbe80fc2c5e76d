// How deeply JSON text nests, found by a scan of its brackets outside strings: bodies and history lines are bounded before anything recurses on them.

/**
 * Default deepest nesting a request body may have (objects and arrays, the body itself is level 1). A real call is far
 * shallower: the deepest part of one is a tool's JSON schema, and providers cap those at 5 to 10 levels (each level
 * two JSON levels: `properties`, then the field), some 25 levels with the envelope. Bounded well under what breaks a
 * reader of the history line that holds the body one or two levels deeper: Ruby's JSON (100 by default), serde_json
 * (128), jq, Python (about 1,000), Go (10,000), V8's JSON.stringify (about 4,500 at best, fewer when called deep in a
 * stack: a 4,110-deep body made GET /history fail).
 */
export const DEFAULT_MAX_JSON_DEPTH = 64;

/** Highest TOLLGATE_MAX_JSON_DEPTH accepted: history lines (body + 2) stay under HISTORY_LINE_MAX_DEPTH. */
export const MAX_JSON_DEPTH_SETTING = 512;

/**
 * Deepest history line a reader parses. Lines tollgate writes stay far under it (bodies are bounded at the door, an
 * upstream answer nested deeper than the body bound is stored as a string); a deeper line already on disk (written
 * before the bound, or by another tool) is skipped and counted like any unreadable line, never a 500. A quarter of
 * what V8's JSON.stringify survives at the top of a stack.
 */
export const HISTORY_LINE_MAX_DEPTH = 1_000;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;

/**
 * Whether the JSON text nests deeper than `maxDepth`. Counts `[` and `{` outside strings (a string is skipped with
 * indexOf to its closing quote, so prompt text costs a memchr, not a loop step per character). Text that is not valid
 * JSON gives some answer; JSON.parse refuses it afterwards either way.
 */
export function jsonDeeperThan(text: string, maxDepth: number): boolean {
  let depth = 0;
  const length = text.length;
  for (let at = 0; at < length; at++) {
    const code = text.charCodeAt(at);
    if (code === QUOTE) {
      at = closingQuote(text, at + 1);
      if (at < 0) return false;
    } else if (code === OPEN_ARRAY || code === OPEN_OBJECT) {
      if (++depth > maxDepth) return true;
    } else if (code === CLOSE_ARRAY || code === CLOSE_OBJECT) {
      depth -= 1;
    }
  }
  return false;
}

/** Index of the quote that ends the string whose content starts at `from`, or -1 when none does. */
function closingQuote(text: string, from: number): number {
  for (let search = from; ; ) {
    const quote = text.indexOf('"', search);
    if (quote < 0) return -1;
    let backslashes = 0;
    for (let at = quote - 1; at >= from && text.charCodeAt(at) === BACKSLASH; at--) backslashes += 1;
    if ((backslashes & 1) === 0) return quote;
    search = quote + 1;
  }
}
