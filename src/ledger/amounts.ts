// Metrics as fixed column indexes, and the validation that turns an Amounts object into a compact row of numbers.
import type { Amounts, Metric } from './ledger.ts';

/** Every summable metric, in column order. */
export const METRICS: readonly Metric[] = ['usd_micros', 'requests', 'input_tokens', 'output_tokens', 'total_tokens', 'unknown_cost_requests'];

export const METRIC_COUNT = METRICS.length;

const COLUMN_OF: ReadonlyMap<string, number> = new Map(METRICS.map((metric, index) => [metric, index]));

/** Column index of a metric, or -1 for names that are not summable metrics (e.g. `concurrency`). */
export function columnOf(metric: string): number {
  return COLUMN_OF.get(metric) ?? -1;
}

/** One value per metric column. */
export type AmountRow = Float64Array;

/**
 * An amount as the ledger takes it (a safe integer): a client's `max_tokens: 1e15` or an upstream's absurd count is held
 * at 2^53 − 1. No limit is larger, so the estimate is still refused and the charge still recorded, where the raw value
 * would make the ledger throw (and a ledger error fails open).
 */
export function ledgerAmount(value: number): number {
  return value < Number.MAX_SAFE_INTEGER ? value : Number.MAX_SAFE_INTEGER;
}

/** Validates amounts (non-negative safe integers, known metric names) and returns them as a row. Throws TypeError. */
export function toRow(amounts: Amounts): AmountRow {
  const row = new Float64Array(METRIC_COUNT);
  for (const key of Object.keys(amounts)) {
    const value = (amounts as Record<string, unknown>)[key];
    if (value === undefined) continue;
    const column = columnOf(key);
    if (column < 0) throw new TypeError(`ledger: unknown metric "${key}"`);
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new TypeError(`ledger: amount for ${key} must be a non-negative integer`);
    }
    row[column] = value;
  }
  return row;
}

/** The row back as an Amounts object holding only the non-zero metrics. */
export function fromRow(row: AmountRow): Amounts {
  const amounts: Partial<Record<Metric, number>> = {};
  for (let column = 0; column < METRIC_COUNT; column++) {
    if (row[column] !== 0) amounts[METRICS[column]] = row[column];
  }
  return amounts;
}

export function isZeroRow(row: AmountRow): boolean {
  for (let column = 0; column < METRIC_COUNT; column++) if (row[column] !== 0) return false;
  return true;
}
