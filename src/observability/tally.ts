// Labelled counts kept as plain numbers on the hot path and copied into prom-client counters only at scrape time.
import type { Counter } from 'prom-client';

interface Series {
  readonly labels: Record<string, string>;
  value: number;
}

/**
 * One counter's series, keyed by its label values in `labelNames` order. Adding is a Map lookup and an addition
 * (prom-client's own `inc` sorts, validates and hashes the label object on every call, three to six times a call).
 */
export class Tally<Name extends string> {
  readonly #series = new Map<string, Series>();
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
    const labels: Record<string, string> = {};
    this.#labelNames.forEach((name, index) => (labels[name] = values[index] ?? ''));
    this.#series.set(key, { labels, value: amount });
  }

  /** Replaces the counter's series with these totals (counters stay monotonic: the totals only grow). */
  copyInto(counter: Counter<Name>): void {
    counter.reset();
    for (const { labels, value } of this.#series.values()) counter.inc(labels as Partial<Record<Name, string>>, value);
  }
}
