// A single timer that fires once unless kept alive: a first-byte bound that becomes an idle bound after the first chunk.
export class Watchdog {
  readonly #onFire: () => void;
  #timer: NodeJS.Timeout;
  #ms: number;

  constructor(options: { ms: number; onFire: () => void }) {
    this.#onFire = options.onFire;
    this.#ms = options.ms;
    this.#timer = this.#start();
  }

  /** Restarts the countdown, switching to a new duration if it differs. */
  keepAlive(ms: number = this.#ms): void {
    if (ms === this.#ms) {
      this.#timer.refresh();
      return;
    }
    clearTimeout(this.#timer);
    this.#ms = ms;
    this.#timer = this.#start();
  }

  stop(): void {
    clearTimeout(this.#timer);
  }

  #start(): NodeJS.Timeout {
    const timer = setTimeout(this.#onFire, this.#ms);
    timer.unref();
    return timer;
  }
}
