// Money at the edges: USD (as providers and files state it) ↔ integer micro-dollars (as tollgate counts it inside).

const MICROS_PER_USD = 1_000_000;

/** Integer micro-dollars → USD, for rendering (JSON bodies, headers, logs). */
export function microsToUsd(micros: number): number {
  return micros / MICROS_PER_USD;
}

/** Integer micro-dollars as a plain decimal USD string (`1.5`, `0.000125`, `0`), exact: for headers. */
export function microsToUsdText(micros: number): string {
  const sign = micros < 0 ? '-' : '';
  const whole = Math.abs(Math.round(micros));
  const dollars = Math.floor(whole / MICROS_PER_USD);
  const fraction = String(whole % MICROS_PER_USD)
    .padStart(6, '0')
    .replace(/0+$/, '');
  return `${sign}${dollars}${fraction ? `.${fraction}` : ''}`;
}

/** USD → integer micro-dollars, rounded to the nearest micro-dollar (ties up), held at MAX_MICROS. */
export function usdToMicros(usd: number): number {
  return roundMicros(usd * MICROS_PER_USD);
}

/**
 * The most one call is charged: 2^53 − 1 µ$, the largest amount the ledger takes (ledger/amounts.ts holds larger
 * ones there too). An absurd report (`usage.cost: 1e300`, billions of tokens) must stay a whole number in the event,
 * history and the ledger alike, not Infinity (written as null) or an inexact float.
 */
export const MAX_MICROS = Number.MAX_SAFE_INTEGER;

/**
 * Rounds an amount of micro-dollars to the nearest integer, ties up, within [0, MAX_MICROS] (NaN counts as the
 * most, never as free). The amount is first snapped to 1e-6 µ$ so float noise from decimal rates
 * (0.3 × 3 = 0.8999999999999999) cannot move a value across a .5 boundary. Exact for amounts up to about 9e9 µ$
 * ($9,000) per call.
 */
export function roundMicros(micros: number): number {
  const rounded = Math.round(Math.round(micros * 1e6) / 1e6);
  if (rounded < MAX_MICROS) return rounded > 0 ? rounded : 0;
  return MAX_MICROS;
}

/** Rounds micro-dollars up, ignoring floating-point noise below a ten-millionth of a micro-dollar (7 × 0.01 is not 0.07000000000000001). */
export function ceilMicros(value: number): number {
  return Math.max(0, Math.ceil(value - 1e-7));
}

/**
 * An upper bound in micro-dollars for tokens at flat USD-per-million-token rates (a USD rate per million tokens is
 * µ$ per token): what a reservation holds, and what `unknown_cost: "estimate"` charges.
 */
export function flatRateMicros(input: { inputTokens: number; outputTokens: number; inputPerMTok: number; outputPerMTok: number }): number {
  return ceilMicros(input.inputTokens * input.inputPerMTok + input.outputTokens * input.outputPerMTok);
}
