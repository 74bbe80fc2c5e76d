// The embedded ledger's ended reservation ids, remembered for a while: a settle retried counts nothing, a reserve of one holds nothing.
export class Tombstones {
  /** Ended ids → until when they are remembered, negative for a release; in expiry order (every one lives `ttlMs`). */
  readonly #ends = new Map<string, number>();

  constructor(private readonly ttlMs: number) {}

  get size(): number {
    return this.#ends.size;
  }

  has(id: string): boolean {
    return this.#ends.has(id);
  }

  /** Ended by a settle (not a release), within the time it is remembered. */
  settled(id: string): boolean {
    return (this.#ends.get(id) ?? 0) > 0;
  }

  /** Remembers an ended id; the map stays in expiry order because every tombstone lives the same time. */
  add(id: string, now: number, how: 'settled' | 'released'): void {
    const until = now + this.ttlMs;
    this.#ends.delete(id);
    this.#ends.set(id, how === 'settled' ? until : -until);
  }

  /** Forgets the ids whose time is up. */
  sweep(now: number): void {
    for (const [id, until] of this.#ends) {
      if (Math.abs(until) > now) return;
      this.#ends.delete(id);
    }
  }
}
