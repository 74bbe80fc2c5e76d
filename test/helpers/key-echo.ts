// Random provider keys and the shapes an upstream may echo them in: exact, case-changed, JSON-escaped, truncated.

export type EchoShape = 'exact' | 'lower' | 'upper' | 'escaped' | 'truncated' | 'truncated-lower' | 'escaped-truncated';
export const ECHO_SHAPES: readonly EchoShape[] = ['exact', 'lower', 'upper', 'escaped', 'truncated', 'truncated-lower', 'escaped-truncated'];

const KEY_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** A key shaped like a provider's (a prefix, then 24 to 60 random characters; some with a `/` or `.` or `+`). */
export function randomKey(random: () => number): string {
  const prefixes = ['sk-', 'sk-proj-', 'sk-ant-api03-', 'xai-', 'AIza', 'sk-or-v1-', ''];
  let key = prefixes[Math.floor(random() * prefixes.length)];
  const length = 24 + Math.floor(random() * 37);
  for (let i = 0; i < length; i++) key += KEY_CHARS[Math.floor(random() * KEY_CHARS.length)];
  if (random() < 0.3) {
    const at = 4 + Math.floor(random() * (key.length - 8));
    key = `${key.slice(0, at)}${'/.+'[Math.floor(random() * 3)]}${key.slice(at + 1)}`;
  }
  return key;
}

/**
 * The key as an upstream might echo it, as it appears in the answer's JSON text (an `escaped` echo is already JSON
 * text: put it inside a JSON string as it is, not through JSON.stringify, which would escape its backslashes).
 */
export function echoOf(key: string, shape: EchoShape, random: () => number): string {
  switch (shape) {
    case 'exact':
      return key;
    case 'lower':
      return key.toLowerCase();
    case 'upper':
      return key.toUpperCase();
    case 'escaped':
      return jsonEscaped(key, random);
    case 'truncated':
      return piece(key, random);
    case 'truncated-lower':
      return piece(key, random).toLowerCase();
    case 'escaped-truncated':
      return jsonEscaped(piece(key, random), random);
  }
}

/** Whether a shape is JSON text that only a JSON reader turns back into the key (not usable raw in a header). */
export function isJsonOnly(shape: EchoShape): boolean {
  return shape === 'escaped' || shape === 'escaped-truncated';
}

/** 12 or more consecutive characters of the key (a key cut short, or a middle part of it). */
function piece(key: string, random: () => number): string {
  const length = 12 + Math.floor(random() * (key.length - 11));
  const start = Math.floor(random() * (key.length - length + 1));
  return key.slice(start, start + length);
}

/** Some characters as `\uXXXX` (hex in either case), a `/` as `\/`, the rest as they are. */
function jsonEscaped(text: string, random: () => number): string {
  let out = '';
  for (const char of text) {
    if (char === '/' && random() < 0.7) out += '\\/';
    else if (random() < 0.6) {
      const hex = char.charCodeAt(0).toString(16).padStart(4, '0');
      out += `\\u${random() < 0.5 ? hex : hex.toUpperCase()}`;
    } else out += char;
  }
  return out;
}

/**
 * Whether `text` still gives the key away: 12 or more consecutive characters of it, in any case, once JSON escapes
 * are read (the leak check, written independently of the masker).
 */
export function leaksKey(text: string, key: string): boolean {
  const plain = text
    .replace(/\\u([0-9a-fA-F]{4})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    .replace(/\\\//g, '/')
    .toLowerCase();
  const lowerKey = key.toLowerCase();
  for (let start = 0; start + 12 <= lowerKey.length; start++) if (plain.includes(lowerKey.slice(start, start + 12))) return true;
  return false;
}
