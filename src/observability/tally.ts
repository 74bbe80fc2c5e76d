// Labelled counts kept as plain numbers on the hot path and read as exposition series at scrape time.
import type { Series } from './exposition.ts';

interface CountedSeries extends Series {
  value: number;
}

/**
 * One counter's series, keyed by its label values in `labelNames` order. Adding is a Map lookup and an addition
 * (prom-client's own `inc` sorts, validates and hashes the label object on every call, three to six times a call).
 */
export class Tally<Name extends string> {
  readonly #series = new Map<string, CountedSeries>();
  readonly #labelNames: readonly Name[];

  constructor(labelNames: readonly Name[]) {
    this.#labelNames = labelNames;
  }

  /** Adds `amount` (default 1) to the series with these label values, given in `labelNames` order. */
  add(values: readonly string[], amount = 1): void {
    const key = values.length === 1 ? values[0] : values.join('\u0000');
    const series = this.#series.get(key);
    if (series) {
      series.value += amount;
      return;
    }
    const labels = this.#labelNames.map((_, index) => values[index] ?? '');
    this.#series.set(key, { labels, value: amount });
  }

  /** Drops the series whose label at `index` is in `values` (the series of agents that are gone). */
  dropWhere(index: number, values: ReadonlySet<string>): void {
    for (const [key, series] of this.#series) if (values.has(series.labels[index])) this.#series.delete(key);
  }

  /** The label at `index` of every series (repeats included). */
  *labelsAt(index: number): IterableIterator<string> {
    for (const series of this.#series.values()) yield series.labels[index];
  }

  /** Series held now. */
  get size(): number {
    return this.#series.size;
  }

  /** The totals (monotonic: they only grow), in the order the series first appeared; live while iterated. */
  series(): IterableIterator<Series> {
    return this.#series.values();
  }
}
