// A response body as undici pushes it, read whole, in batches or chunk by chunk, with backpressure on undici.
import { ProxyError } from '../errors.ts';

const NO_CHUNKS: readonly Buffer[] = Object.freeze([]);

/** Buffered bytes above which undici stops reading the socket until the relay catches up (as a Readable's default). */
const HIGH_WATER_BYTES = 64 * 1024;

/**
 * A response body as undici pushes it: read whole with `bytes()`, or as it comes (with backpressure) in batches with
 * `take()` / `more()`, or chunk by chunk with `for await`.
 */
export class UpstreamBody implements AsyncIterable<Buffer> {
  readonly #resume: () => void;
  readonly #call: { abort(reason: unknown): void };
  #chunks: Buffer[] = [];
  #buffered = 0;
  #ended = false;
  #failed = false;
  #error: unknown = null;
  #paused = false;
  #iterating = false;
  /** Wakes the reader waiting for the next chunk, the end or a failure. */
  #wake: (() => void) | null = null;

  /** `call` is aborted when the reader leaves early (a method, not a closure made per call). */
  constructor(options: { resume: () => void; call: { abort(reason: unknown): void } }) {
    this.#resume = options.resume;
    this.#call = options.call;
  }

  /** From undici: a chunk arrived. False asks undici to stop reading until resume (only while iterating). */
  push(chunk: Buffer): boolean {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    this.#wakeReader();
    if (this.#iterating && this.#buffered >= HIGH_WATER_BYTES) {
      this.#paused = true;
      return false;
    }
    return true;
  }

  end(): void {
    this.#ended = true;
    this.#wakeReader();
  }

  /** The whole body has arrived (what is still to be read is all there is): the relay keeps its last pieces for the end. */
  get ended(): boolean {
    return this.#ended;
  }

  fail(error: unknown): void {
    if (this.#ended || this.#failed) return;
    this.#failed = true;
    this.#error = error;
    this.#wakeReader();
  }

  /**
   * The whole body, once it has ended; rejects with the transport error if it fails first, and with
   * `upstream_response_too_large` (the call aborted) as soon as more than `maxBytes` have arrived. With a `hold`, the
   * bytes are held in it as they arrive, and the hold's refusal aborts the call the same way. With `idleMs`, a body that
   * sends nothing for that long aborts the call with `upstream_timeout` (a stream request answered with JSON has no
   * other deadline).
   */
  async bytes(options: { maxBytes?: number; hold?: { take(bytes: number): ProxyError | null }; idleMs?: number } = {}): Promise<Buffer> {
    const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    let held = 0;
    for (;;) {
      const refused =
        this.#buffered > maxBytes
          ? new ProxyError('upstream_response_too_large', { message: `upstream response too large: over ${maxBytes} bytes` })
          : (options.hold?.take(this.#buffered - held) ?? null);
      if (refused) {
        this.#chunks = [];
        this.#call.abort(refused);
        throw refused;
      }
      held = this.#buffered;
      if (this.#ended) break;
      if (this.#failed) throw this.#error;
      if (!(await this.#arrival(options.idleMs))) {
        const stalled = new ProxyError('upstream_timeout', { message: `upstream sent nothing for ${options.idleMs} ms` });
        this.#call.abort(stalled);
        throw stalled;
      }
    }
    const chunks = this.#chunks;
    this.#chunks = [];
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.#buffered);
  }

  /**
   * The first `bytes` bytes as text (fewer when the body ends first, or when nothing more arrives within `waitMs`: an
   * upstream that stalls is then the reader's to judge), left in place for whoever reads the body.
   */
  async peek(bytes: number, waitMs: number): Promise<string> {
    const until = Date.now() + waitMs;
    while (this.#buffered < bytes && !this.#ended && !this.#failed) {
      const left = until - Date.now();
      if (left <= 0 || !(await this.#arrival(left))) break;
    }
    const head = this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks);
    return head.subarray(0, bytes).toString('utf8');
  }

  /** Waits for the next chunk, the end or a failure: true, or false when `ms` passed first (no bound: never false). */
  #arrival(ms: number | undefined): Promise<boolean> {
    if (ms === undefined) return new Promise<boolean>((wake) => (this.#wake = () => wake(true)));
    return new Promise<boolean>((wake) => {
      const woken = (): void => {
        clearTimeout(timer);
        wake(true);
      };
      const timer = setTimeout(() => {
        if (this.#wake === woken) this.#wake = null;
        wake(false);
      }, ms);
      this.#wake = woken;
    });
  }

  /** Drops the body unread: what arrived is let go, and a body still arriving ends the call. */
  discard(): void {
    this.#chunks = [];
    this.#buffered = 0;
    if (!this.#ended && !this.#failed) this.#call.abort(new ProxyError('upstream_unreachable', { message: 'response body abandoned' }));
  }

  /**
   * What arrived and is still unread, in order (none yet: wait with `more()`), for a reader that takes the body in
   * batches: one promise per wait, where `for await` makes several per chunk. undici, if backpressure paused it, reads
   * on. A reader that stops before the end calls `leave()`.
   */
  take(): readonly Buffer[] {
    this.#iterating = true;
    if (this.#chunks.length === 0) return NO_CHUNKS;
    const chunks = this.#chunks;
    this.#chunks = [];
    this.#buffered = 0;
    if (this.#paused) {
      this.#paused = false;
      this.#resume();
    }
    return chunks;
  }

  /** Resolves once a chunk, the end or a failure has arrived (call it when `take()` gave none and the body goes on). */
  more(): Promise<void> {
    return new Promise<void>((wake) => (this.#wake = wake));
  }

  /** Throws the transport failure that ended the body, if one did. */
  throwIfFailed(): void {
    if (this.#failed) throw this.#error;
  }

  /** The reader stops here: a body still arriving ends the upstream call, as destroying undici's Readable would. */
  leave(): void {
    if (!this.#ended && !this.#failed) this.#call.abort(new ProxyError('upstream_unreachable', { message: 'response body abandoned' }));
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        const chunks = this.take();
        if (chunks.length > 0) {
          for (const chunk of chunks) yield chunk;
          continue;
        }
        if (this.#ended) return;
        this.throwIfFailed();
        await this.more();
      }
    } finally {
      this.leave();
    }
  }

  #wakeReader(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}
