// Money at the edges: USD (as providers and files state it) ↔ integer micro-dollars (as tollgate counts it inside).

const MICROS_PER_USD = 1_000_000;

/** Integer micro-dollars → USD, for rendering (JSON bodies, headers, logs). */
export function microsToUsd(micros: number): number {
  return micros / MICROS_PER_USD;
}

/** USD → integer micro-dollars, rounded to the nearest micro-dollar (ties up). */
export function usdToMicros(usd: number): number {
  return roundMicros(usd * MICROS_PER_USD);
}

/**
 * Rounds an amount of micro-dollars to the nearest integer, ties up. The amount is first snapped to 1e-6 µ$
 * so float noise from decimal rates (0.3 × 3 = 0.8999999999999999) cannot move a value across a .5 boundary.
 * Exact for amounts up to about 9e9 µ$ ($9,000) per call.
 */
export function roundMicros(micros: number): number {
  return Math.round(Math.round(micros * 1e6) / 1e6);
}
