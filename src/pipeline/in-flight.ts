// Counts model calls in progress, so shutdown closes the ledger and history only after each call has settled and recorded.

export class InFlightCalls {
  #count = 0;
  #waiters: (() => void)[] = [];

  get count(): number {
    return this.#count;
  }

  started(): void {
    this.#count += 1;
  }

  ended(): void {
    this.#count -= 1;
    if (this.#count > 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }

  /**
   * Resolves true once no call is in progress (at once when none is), or false after `timeoutMs`: a call stuck on a
   * ledger that never answers must not hold the process open for ever.
   */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.#count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs); // not unref'd: shutdown does wait for it
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
