// Prometheus text exposition of metric families with many series, written in bounded chunks that yield to the event loop.
import { setImmediate as nextTurn } from 'node:timers/promises';

export interface Series {
  /** Label values, in the family's `labelNames` order. */
  readonly labels: readonly string[];
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly labelNames: readonly string[];
  /** Read as the text is written: a series added meanwhile is included, each value is the one read when written. */
  readonly series: Iterable<Series>;
}

/** Series written between two yields to the event loop (about half a millisecond of work). */
export const SERIES_PER_CHUNK = 1_000;

/**
 * Collects the exposition text family by family, as prom-client's `registry.metrics()` lays it out (families separated
 * by a blank line, a final newline) and formats it (label values and help escaped, numbers as `getValueAsString`), so
 * families written here and blocks rendered by prom-client can sit side by side in one text.
 */
export class ExpositionWriter {
  // the text in order, each piece ending with a newline: a family's header, a chunk of its series, a whole block
  readonly #pieces: string[] = [];
  readonly #seriesPerChunk: number;
  #sinceYield = 0;

  constructor(options: { readonly seriesPerChunk?: number } = {}) {
    this.#seriesPerChunk = Math.max(1, options.seriesPerChunk ?? SERIES_PER_CHUNK);
  }

  /** Appends a family rendered elsewhere (one of prom-client's, `registry.getSingleMetricAsString`). */
  block(text: string): void {
    this.#pieces.push(this.#pieces.length > 0 ? `\n${text}\n` : `${text}\n`);
  }

  /** Appends a family, yielding to the event loop after every `seriesPerChunk` series (counted across families). */
  async family(family: Family): Promise<void> {
    this.block(`# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}`);
    const names = family.labelNames;
    let lines: string[] = [];
    for (const series of family.series) {
      lines.push(`${family.name}${labelText(names, series.labels)} ${valueText(series.value)}\n`);
      if (++this.#sinceYield < this.#seriesPerChunk) continue;
      this.#pieces.push(lines.join(''));
      lines = [];
      this.#sinceYield = 0;
      await nextTurn();
    }
    if (lines.length > 0) this.#pieces.push(lines.join(''));
  }

  /** The text in pieces of at most a chunk of series each (their concatenation is the whole text). */
  pieces(): readonly string[] {
    return this.#pieces;
  }
}

function labelText(names: readonly string[], values: readonly string[]): string {
  if (names.length === 0) return '';
  let text = `{${names[0]}="${escapeLabelValue(values[0] ?? '')}"`;
  for (let index = 1; index < names.length; index++) text += `,${names[index]}="${escapeLabelValue(values[index] ?? '')}"`;
  return `${text}}`;
}

const LABEL_SPECIALS = /[\\\n"]/;

/** Backslash, newline and double quote escaped, as the text format (and prom-client) require. */
export function escapeLabelValue(value: string): string {
  if (!LABEL_SPECIALS.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A sample value as prom-client writes it (`Nan`, `+Inf`, `-Inf`, else the shortest JavaScript form). */
export function valueText(value: number): string {
  if (Number.isNaN(value)) return 'Nan';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return `${value}`;
}
