// Tolerant readers for usage fields in provider JSON: a field of the wrong type counts as absent, never as zero or an error.

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A token count: a non-negative safe integer, else undefined. */
export function tokenCount(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/** A decimal number as a string ("0.0042", "1e-5"); not what Number() also takes ("0x10", "Infinity", " "). */
const DECIMAL = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

/** A provider-reported USD cost: a finite non-negative number, or a decimal string (as cllama accepts), else undefined. */
export function usdAmount(value: unknown): number | undefined {
  const amount = typeof value === 'number' ? value : typeof value === 'string' && DECIMAL.test(value) ? Number(value) : NaN;
  return Number.isFinite(amount) && amount >= 0 ? amount : undefined;
}
