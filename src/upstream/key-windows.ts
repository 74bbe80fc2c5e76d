// Finds any run of 12+ characters of a provider key in bytes, in any letter case and through JSON escapes, chunk by chunk.

/** A run this long of a key's characters counts as the key: a truncated key is caught, ordinary text is not. */
export const WINDOW = 12;
/** Rolling hash of the last 12 characters' codes (Rabin-Karp, int32): H = sum code_i * MULT^(11 - i). */
const MULT = 0x01000193;
const MULT_POW_WINDOW = (() => {
  let power = 1;
  for (let i = 0; i < WINDOW; i++) power = Math.imul(power, MULT);
  return power;
})();
/** Bits of the filter: 2^20 (128 KiB), so a window of ordinary text is nearly always ruled out by one bit read. */
const FILTER_BITS = 20;
const BACKSLASH = 0x5c;
const QUOTE = 0x22;
const LOWER_U = 0x75;
const SLASH = 0x2f;
/** An open masked span longer than this is closed and released (a key with a period could otherwise grow it forever). */
const MAX_OPEN_SPAN = 16 * 1024;
const MASKED = Buffer.from('[REDACTED]');
const EMPTY = Buffer.alloc(0);
/** occursIn's ring (it runs to completion, so one serves every call). */
const SCRATCH_RING = new Uint8Array(16);

function filterIndex(hash: number): number {
  return Math.imul(hash, 0x9e3779b1) >>> (32 - FILTER_BITS);
}

/**
 * Every 12-character window of the keys, folded to lower case, prepared once per key list: bytes outside the keys'
 * alphabet end a run at the cost of one table read, a window of other text is ruled out by one filter bit, and a
 * window the filter lets through is compared character by character, so a match is exact.
 */
export class KeyWindows {
  /** Byte (lower-cased) → its code in the keys' alphabet (1..255), 0 when no key holds it. */
  readonly codes = new Uint8Array(256);
  /** Hash of a window → the windows (their 12 codes) with that hash. */
  readonly windows = new Map<number, Uint8Array[]>();
  /** One bit per filterIndex(hash) of every window. */
  readonly filter = new Uint8Array((1 << FILTER_BITS) / 8);
  /** A key holds a byte outside ASCII: occursIn cannot rule a text out by its UTF-16 units and says maybe. */
  readonly #nonAscii: boolean;

  /** Null when no key is long enough to be masked (placeholders such as `none`). */
  static of(secrets: readonly string[]): KeyWindows | null {
    const usable = secrets.filter((secret) => secret.length >= WINDOW);
    return usable.length === 0 ? null : new KeyWindows(usable);
  }

  private constructor(secrets: readonly string[]) {
    let next = 1;
    let nonAscii = false;
    for (const secret of secrets) {
      for (const byte of Buffer.from(secret.toLowerCase(), 'utf8')) {
        // a backslash starts an escape, a quote ends a JSON string: neither is ever part of a run
        if (byte === BACKSLASH || byte === QUOTE || this.codes[byte] !== 0) continue;
        this.codes[byte] = next++;
        if (byte >= 0x80) nonAscii = true;
        if (byte >= 0x61 && byte <= 0x7a) this.codes[byte - 0x20] = this.codes[byte]; // upper case folds onto lower
      }
    }
    this.#nonAscii = nonAscii;
    for (const secret of secrets) {
      const codes = Uint8Array.from(Buffer.from(secret.toLowerCase(), 'utf8'), (byte) => this.codes[byte]);
      for (let end = WINDOW; end <= codes.length; end++) {
        const window = codes.slice(end - WINDOW, end);
        if (window.includes(0)) continue;
        const hash = window.reduce((sum, code) => (Math.imul(sum, MULT) + code) | 0, 0);
        const same = this.windows.get(hash);
        if (same) same.push(window);
        else this.windows.set(hash, [window]);
        const bit = filterIndex(hash);
        this.filter[bit >>> 3] |= 1 << (bit & 7);
      }
    }
  }

  /**
   * Whether a JS string holds a key run (as KeyScanner would find in its UTF-8 bytes), without copying it: the cheap
   * first pass for short texts (headers, ids, log fields), nearly all of which hold none.
   */
  occursIn(text: string): boolean {
    const codes = this.codes;
    const ring = SCRATCH_RING;
    let run = 0;
    let hash = 0;
    for (let at = 0; at < text.length; ) {
      const unit = text.charCodeAt(at);
      let code = unit < 256 && unit !== BACKSLASH ? codes[unit] : 0;
      let length = 1;
      if (unit === BACKSLASH) {
        const escaped = decodeEscape(Buffer.from(text.slice(at, at + 6), 'latin1'), 0);
        if (escaped && escaped.code < 128) {
          code = codes[escaped.code];
          length = escaped.length;
        }
      }
      if (unit >= 128 && this.#nonAscii) return true;
      at += code === 0 ? 1 : length;
      if (code === 0 || unit >= 128) {
        run = 0;
        hash = 0;
        continue;
      }
      const index = run++;
      ring[index & 15] = code;
      hash = (Math.imul(hash, MULT) + code) | 0;
      if (index >= WINDOW) hash = (hash - Math.imul(ring[(index - WINDOW) & 15], MULT_POW_WINDOW)) | 0;
      if (index >= WINDOW - 1 && this.holds(hash, ring, index)) return true;
    }
    return false;
  }

  /** Whether the 12 characters ending at `index` in the ring (codes by index & 15) are a window of a key. */
  holds(hash: number, ring: Uint8Array, index: number): boolean {
    const bit = filterIndex(hash);
    if ((this.filter[bit >>> 3] & (1 << (bit & 7))) === 0) return false;
    const candidates = this.windows.get(hash);
    if (candidates === undefined) return false;
    outer: for (const window of candidates) {
      for (let i = 0; i < WINDOW; i++) if (window[i] !== ring[(index - (WINDOW - 1) + i) & 15]) continue outer;
      return true;
    }
    return false;
  }
}

/**
 * Masks key runs in a byte stream cut anywhere. What is released is final: the last 11 characters of a run (one more
 * could complete a window), a JSON escape cut in two and a masked span that may still grow are held for the next
 * chunk; a byte outside the keys' alphabet (a quote, a space, a line break) releases everything before it. One
 * `[REDACTED]` replaces each stretch of overlapping or touching matches.
 */
export class KeyScanner {
  readonly #keys: KeyWindows;
  /** Bytes not yet released; #held[0] is at absolute offset #base. */
  #held: Buffer = EMPTY;
  #base = 0;
  /** Absolute offset where scanning resumes. */
  #pos = 0;
  /** Characters in the current run (consecutive characters of the alphabet). */
  #run = 0;
  /** Start offsets and codes of the run's last 16 characters, by index in the run & 15. */
  readonly #starts = new Float64Array(16);
  readonly #codes = new Uint8Array(16);
  /** Rolling hash of the run's last 12 characters. */
  #hash = 0;
  /** Masked spans found and not yet released: [start, end) pairs, absolute, ordered, merged. */
  #spans: number[] = [];
  #found = false;

  constructor(keys: KeyWindows) {
    this.#keys = keys;
  }

  /** Whether any key run was found so far. */
  get found(): boolean {
    return this.#found;
  }

  /** The bytes of `chunk` (and of what was held) that are final, masked. */
  push(chunk: Buffer): Buffer {
    this.#held = this.#held.length === 0 ? chunk : Buffer.concat([this.#held, chunk]);
    this.#scan(false);
    return this.#release(this.#safeOffset(), false);
  }

  /** Everything still held, masked: the stream is over (an escape cut by the end is plain text). */
  end(): Buffer {
    this.#scan(true);
    const out = this.#release(this.#base + this.#held.length, true);
    this.#run = 0;
    this.#hash = 0;
    return out;
  }

  /**
   * Advances #pos over the held bytes, finding key runs; stops at an escape the bytes so far cannot decide. The hot
   * loop: state in locals, one table read per byte outside the alphabet, a few integer operations per byte in it.
   */
  #scan(final: boolean): void {
    const buf = this.#held;
    const base = this.#base;
    const keys = this.#keys;
    const codes = keys.codes;
    const starts = this.#starts;
    const ring = this.#codes;
    let run = this.#run;
    let hash = this.#hash;
    let at = this.#pos - base;
    while (at < buf.length) {
      const byte = buf[at];
      let code: number;
      let length = 1;
      if (byte !== BACKSLASH) {
        code = codes[byte];
      } else {
        const escaped = decodeEscape(buf, at);
        if (escaped === undefined && !final) break;
        code = escaped && escaped.code < 128 ? codes[escaped.code] : 0;
        if (code !== 0) length = escaped!.length;
      }
      if (code === 0) {
        run = 0;
        hash = 0;
        at++;
        continue;
      }
      const index = run++;
      starts[index & 15] = base + at;
      ring[index & 15] = code;
      hash = (Math.imul(hash, MULT) + code) | 0;
      if (index >= WINDOW) hash = (hash - Math.imul(ring[(index - WINDOW) & 15], MULT_POW_WINDOW)) | 0;
      at += length;
      if (index >= WINDOW - 1 && keys.holds(hash, ring, index)) {
        this.#found = true;
        this.#mark(Math.max(starts[(index - WINDOW + 1) & 15], this.#base), base + at);
      }
    }
    this.#run = run;
    this.#hash = hash;
    this.#pos = base + at;
  }

  #mark(start: number, end: number): void {
    const spans = this.#spans;
    const last = spans.length - 1;
    if (last > 0 && start <= spans[last]) spans[last] = Math.max(spans[last], end);
    else spans.push(start, end);
  }

  /** Where the bytes that are final end: before the run's last 11 characters and before an undecided escape. */
  #safeOffset(): number {
    if (this.#run === 0) return this.#pos;
    return this.#starts[Math.max(0, this.#run - (WINDOW - 1)) & 15];
  }

  /** Releases the bytes before `safe`, spans replaced; a span that may still grow holds the bytes from its start. */
  #release(safe: number, final: boolean): Buffer {
    const spans = this.#spans;
    let until = safe;
    const open = !final && spans.length > 0 && spans[spans.length - 1] >= safe;
    if (open) {
      const start = spans[spans.length - 2];
      const end = spans[spans.length - 1];
      // a span too long to hold is released masked as it stands; what extends it later is masked on its own
      until = end - start > MAX_OPEN_SPAN ? end : start;
    }
    const buf = this.#held;
    const base = this.#base;
    if (spans.length === 0 || spans[0] >= until) {
      this.#held = buf.subarray(until - base);
      this.#base = until;
      return buf.subarray(0, until - base);
    }
    const parts: Buffer[] = [];
    let from = base;
    let used = 0;
    for (; used < spans.length && spans[used] < until; used += 2) {
      parts.push(buf.subarray(from - base, spans[used] - base), MASKED);
      from = spans[used + 1];
    }
    parts.push(buf.subarray(from - base, until - base));
    this.#spans = spans.slice(used);
    this.#held = buf.subarray(until - base);
    this.#base = until;
    return Buffer.concat(parts);
  }
}

/**
 * The character a JSON escape at `at` stands for (`\/`, `\uXXXX` in either case of hex), with its length; null
 * when the backslash starts no such escape; undefined when the bytes end before that is known.
 */
/** `bytes` with every key run masked; the same buffer when none occurs (no copy). */
export function maskRuns(keys: KeyWindows, bytes: Buffer): Buffer {
  const scanner = new KeyScanner(keys);
  const head = scanner.push(bytes);
  const tail = scanner.end();
  if (!scanner.found) return bytes;
  return tail.length === 0 ? head : Buffer.concat([head, tail]);
}

function decodeEscape(buf: Buffer, at: number): { code: number; length: number } | null | undefined {
  if (at + 1 >= buf.length) return undefined;
  const kind = buf[at + 1];
  if (kind === SLASH) return { code: SLASH, length: 2 };
  if (kind !== LOWER_U) return null;
  if (at + 5 >= buf.length) return undefined;
  let code = 0;
  for (let i = at + 2; i < at + 6; i++) {
    const digit = hexValue(buf[i]);
    if (digit < 0) return null;
    code = code * 16 + digit;
  }
  return { code, length: 6 };
}

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}
