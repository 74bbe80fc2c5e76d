// Finds object keys in JSON text without parsing it: cheap checks run on every event of a stream.

const QUOTE = 34;
const COLON = 58;

/** A key to look for: its name with the closing quote, made once (a search string built per call costs more than the search). */
export interface JsonKey {
  readonly needle: string;
}

export function jsonKey(name: string): JsonKey {
  return { needle: `${name}"` };
}

/**
 * Where the value of the next `"<key>":` at or after `from` starts (whitespace allowed around the colon), or -1.
 * A `"<key>"` followed by `:` is always a key: inside a string its closing quote would be escaped, so text that
 * mentions the key is not mistaken for it. Searching `<key>"` and checking the quote before is ~5x faster than
 * searching `"<key>"`: quotes are everywhere in JSON.
 */
export function nextKeyValue(text: string, key: JsonKey, from: number): number {
  const { needle } = key;
  let at = text.indexOf(needle, from);
  while (at !== -1) {
    let i = at + needle.length;
    if (at > 0 && text.charCodeAt(at - 1) === QUOTE) {
      i = skipJsonSpace(text, i);
      if (text.charCodeAt(i) === COLON) return skipJsonSpace(text, i + 1);
    }
    at = text.indexOf(needle, i);
  }
  return -1;
}

/** The first index at or after `from` that is not JSON whitespace (the text's length at its end). */
export function skipJsonSpace(text: string, from: number): number {
  let i = from;
  for (;;) {
    const code = text.charCodeAt(i);
    if (code !== 32 && code !== 10 && code !== 13 && code !== 9) return i;
    i++;
  }
}
