// Picks one page of history entries by time, whatever order the file holds them in, in memory bounded by the page.
//
// File order is not time order: an entry's ts is its call's start, and it is written when the call ends, so a long
// call lands after shorter ones that started later. A page must therefore be chosen by ts, not by position, or paging
// with `after=<last ts>` skips (and repeats) entries. And a page never splits a group of entries sharing one ts: it
// takes the whole group (so can hold more than `limit`), or paging strictly after that ts would skip the rest.
import type { HistoryEntry } from './entry.ts';

export type PageDirection = 'oldest_first' | 'newest_first';

interface Candidate {
  readonly entry: HistoryEntry;
  /** ts in ms, negated for newest_first: the page is always the smallest keys. */
  readonly key: number;
  /** Offer order: breaks ties (file order forward, reverse file order backward). */
  readonly seq: number;
}

export class PageSelection {
  readonly #limit: number;
  readonly #sign: 1 | -1;
  #candidates: Candidate[] = [];
  #seq = 0;
  /** Once known: ≥ limit candidates have a key ≤ this, so larger keys can never be on the page. */
  #cutoff = Number.POSITIVE_INFINITY;
  #compactAt: number;

  constructor(options: { limit: number; direction: PageDirection }) {
    this.#limit = Math.max(1, Math.floor(options.limit));
    this.#sign = options.direction === 'oldest_first' ? 1 : -1;
    this.#compactAt = 2 * this.#limit + 64;
  }

  /** The boundary (ts in ms) an entry must reach to be on the page: null while fewer than `limit` are held. */
  get boundaryMs(): number | null {
    return this.#cutoff === Number.POSITIVE_INFINITY ? null : this.#sign * this.#cutoff;
  }

  /** Offers an entry whose ts (in ms) already passed the caller's after/before filter. */
  offer(entry: HistoryEntry, tsMs: number): void {
    const key = this.#sign * tsMs;
    if (key > this.#cutoff) return;
    this.#candidates.push({ entry, key, seq: this.#seq++ });
    if (this.#candidates.length >= this.#compactAt) this.#compact();
  }

  /** The page, in its direction's order. */
  entries(): HistoryEntry[] {
    this.#compact();
    return this.#candidates.map((candidate) => candidate.entry);
  }

  /** Sorts, keeps the first `limit` and every later one sharing the last one's ts; learns the cutoff. */
  #compact(): void {
    const sorted = this.#candidates.sort((a, b) => a.key - b.key || a.seq - b.seq);
    if (sorted.length >= this.#limit) {
      this.#cutoff = sorted[this.#limit - 1].key;
      let end = this.#limit;
      while (end < sorted.length && sorted[end].key === this.#cutoff) end += 1;
      sorted.length = end;
    }
    this.#compactAt = Math.max(2 * this.#limit + 64, 2 * sorted.length);
  }
}
