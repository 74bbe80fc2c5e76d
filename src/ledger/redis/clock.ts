// The Redis server's clock as a replica can know it: server times that replies carry, run on by the local monotonic clock.

/** Observations are kept per window of this length; the estimate uses the best of the current and the previous one. */
const WINDOW_MS = 30_000;

/**
 * An estimate of the server's time. A reply's server time was read before the reply crossed the network and waited for
 * the event loop, so each observation is behind the server by that delay; the estimate takes the largest offset seen
 * (the least delayed observation) over the last 30 to 60 s, so one late-read reply does not drag it back, and a server
 * clock stepped back is followed within a minute. A reserve carries a deadline on this clock, so a reserve that Redis
 * runs after its sender stopped waiting (a stalled Redis resuming) holds nothing.
 */
export class ServerClock {
  /** Largest (server - local) offset seen in the current and the previous window; -Infinity: none. */
  #current = Number.NEGATIVE_INFINITY;
  #previous = Number.NEGATIVE_INFINITY;
  #windowStart: number;
  readonly #local: () => number;

  constructor(local: () => number = () => performance.now()) {
    this.#local = local;
    this.#windowStart = local();
  }

  /** A server time (ms) just read from a reply. */
  observe(serverMs: number): void {
    if (!Number.isFinite(serverMs) || serverMs <= 0) return;
    const now = this.#local();
    this.#rotate(now);
    this.#current = Math.max(this.#current, serverMs - now);
  }

  /** Forgets what was seen (a new connection may reach another server, with its own clock). */
  forget(): void {
    this.#current = Number.NEGATIVE_INFINITY;
    this.#previous = Number.NEGATIVE_INFINITY;
  }

  /** The server time `afterMs` from now, or null before any observation (then nothing is bounded). */
  deadline(afterMs: number): number | null {
    const now = this.#local();
    this.#rotate(now);
    const offset = Math.max(this.#current, this.#previous);
    return Number.isFinite(offset) ? Math.floor(now + offset + afterMs) : null;
  }

  #rotate(now: number): void {
    if (now - this.#windowStart < WINDOW_MS) return;
    // a window with no observation keeps the last known offset rather than none
    if (Number.isFinite(this.#current)) this.#previous = this.#current;
    this.#current = Number.NEGATIVE_INFINITY;
    this.#windowStart = now;
  }
}
