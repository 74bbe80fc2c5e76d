// Finds any run of 12+ characters of a provider key in bytes, in any letter case and through JSON escapes, chunk by chunk.

/** A run this long of a key's characters counts as the key: a truncated key is caught, ordinary text is not. */
export const WINDOW = 12;
/** Each window is looked up as two exact 42-bit halves of 6 characters × 7 bits (a double holds 53 bits exactly). */
const HALF = 6;
const HALF_MOD = 2 ** (7 * (HALF - 1));
const BACKSLASH = 0x5c;
const LOWER_U = 0x75;
const SLASH = 0x2f;
/** An open masked span longer than this is closed and released (a key with a period could otherwise grow it forever). */
const MAX_OPEN_SPAN = 16 * 1024;
const MASKED = Buffer.from('[REDACTED]');
const EMPTY = Buffer.alloc(0);

/**
 * Every 12-character window of the keys, folded to lower case, prepared once per key list: bytes outside the keys'
 * alphabet end a run at the cost of one table read, so ordinary prose is scanned at almost no cost.
 */
export class KeyWindows {
  /** Byte (lower-cased) → its 7-bit code in the keys' alphabet, 0 when no key holds it. */
  readonly codes = new Uint8Array(256);
  /** Last 6 characters of a window → the first 6 of each window ending so. */
  readonly windows = new Map<number, Set<number>>();
  /** One bit per low 16 bits of a second half: most runs are ruled out without a Map lookup. */
  readonly filter = new Uint8Array(65536 / 8);

  /** Null when no key is long enough to be masked (placeholders such as `none`). */
  static of(secrets: readonly string[]): KeyWindows | null {
    const usable = secrets.filter((secret) => secret.length >= WINDOW);
    return usable.length === 0 ? null : new KeyWindows(usable);
  }

  private constructor(secrets: readonly string[]) {
    let next = 1;
    for (const secret of secrets) {
      for (const byte of Buffer.from(secret.toLowerCase(), 'utf8')) {
        if (byte === BACKSLASH || this.codes[byte] !== 0 || next > 127) continue;
        this.codes[byte] = next++;
        if (byte >= 0x61 && byte <= 0x7a) this.codes[byte - 0x20] = this.codes[byte]; // upper case folds onto lower
      }
    }
    for (const secret of secrets) {
      const codes = [...Buffer.from(secret.toLowerCase(), 'utf8')].map((byte) => this.codes[byte]);
      for (let end = WINDOW; end <= codes.length; end++) {
        const window = codes.slice(end - WINDOW, end);
        if (window.includes(0)) continue;
        const high = window.slice(0, HALF).reduce((sum, code) => sum * 128 + code, 0);
        const low = window.slice(HALF).reduce((sum, code) => sum * 128 + code, 0);
        let highs = this.windows.get(low);
        if (!highs) this.windows.set(low, (highs = new Set()));
        highs.add(high);
        this.filter[(low & 0xffff) >> 3] |= 1 << (low & 7);
      }
    }
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
  /** Rolling codes of the last 6 characters and of the 6 before them. */
  #low = 0;
  #high = 0;
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
    return out;
  }

  /** Advances #pos over the held bytes, finding key runs; stops at an escape the bytes so far cannot decide. */
  #scan(final: boolean): void {
    const buf = this.#held;
    const base = this.#base;
    const codes = this.#keys.codes;
    let at = this.#pos - base;
    while (at < buf.length) {
      const byte = buf[at];
      if (byte !== BACKSLASH) {
        const code = codes[byte];
        if (code === 0) this.#run = 0;
        else this.#char(code, base + at, base + at + 1);
        at++;
        continue;
      }
      const escaped = decodeEscape(buf, at);
      if (escaped === undefined && !final) break;
      if (!escaped || escaped.code >= 128 || codes[escaped.code] === 0) {
        this.#run = 0;
        at++;
        continue;
      }
      this.#char(codes[escaped.code], base + at, base + at + escaped.length);
      at += escaped.length;
    }
    this.#pos = base + at;
  }

  /** One character of the alphabet at [start, end): extends the run, and marks the window it completes if a key holds it. */
  #char(code: number, start: number, end: number): void {
    const index = this.#run++;
    this.#starts[index & 15] = start;
    this.#codes[index & 15] = code;
    this.#low = (this.#low % HALF_MOD) * 128 + code;
    if (index < HALF) return;
    this.#high = (this.#high % HALF_MOD) * 128 + this.#codes[(index - HALF) & 15];
    if (index < WINDOW - 1) return;
    const low = this.#low;
    if ((this.#keys.filter[(low & 0xffff) >> 3] & (1 << (low & 7))) === 0) return;
    if (this.#keys.windows.get(low)?.has(this.#high) !== true) return;
    this.#found = true;
    this.#mark(Math.max(this.#starts[(index - WINDOW + 1) & 15], this.#base), end);
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
