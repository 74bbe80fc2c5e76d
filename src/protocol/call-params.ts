// The request fields that bound a call's cost (output caps, choices, stream), checked once: a wrong shape is refused, never read as absent.
import { ProxyError } from '../errors.ts';

/** The largest output cap accepted: the int32 range provider APIs parse. 1e16 or 1e300 is refused, not held or ignored. */
export const MAX_OUTPUT_CAP = 2_147_483_647;
/** The most choices (`n`, chat completions) accepted (OpenAI's own bound). */
export const MAX_CHOICES = 128;

export interface CallParams {
  /** The client's output cap per choice, or null when it set none: the largest of the route's cap fields. */
  readonly outputCap: number | null;
  /** Choices asked for (`n`, chat completions only); 1 when absent. */
  readonly choices: number;
  readonly stream: boolean;
}

/** A route's numeric cost fields: its output caps (the largest counts) and its choices field, if any. */
export interface CallFields {
  readonly caps: readonly string[];
  readonly choices?: string;
}

/**
 * Reads the fields of `body` that bound the call's cost; `null` and an absent field both mean "not set". Throws
 * `invalid_parameter` (400, the field named in the OpenAI envelope's `param`) for a cap or `n` that is not a whole
 * number from 1 to its bound (a string, a fraction, zero, negative, 1e16) and for a `stream` that is not a boolean.
 * Several caps set: the larger, so a server that honours only one of them cannot answer past what was reserved.
 */
export function readCallParams(body: Record<string, unknown>, fields: CallFields): CallParams {
  let outputCap: number | null = null;
  for (const name of fields.caps) {
    const cap = wholeNumber(body[name], name, MAX_OUTPUT_CAP);
    if (cap !== null) outputCap = outputCap === null ? cap : Math.max(outputCap, cap);
  }
  const choices = fields.choices === undefined ? null : wholeNumber(body[fields.choices], fields.choices, MAX_CHOICES);
  const stream = body.stream;
  if (stream !== undefined && stream !== null && typeof stream !== 'boolean') {
    throw new ProxyError('invalid_parameter', { message: `stream must be true or false, got ${shown(stream)}`, param: 'stream' });
  }
  return { outputCap, choices: choices ?? 1, stream: stream === true };
}

function wholeNumber(value: unknown, name: string, max: number): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= max) return value;
  throw new ProxyError('invalid_parameter', { message: `${name} must be a whole number from 1 to ${max}, got ${shown(value)}`, param: name });
}

/** The value as the message shows it: a string quoted (and cut at 40 characters), a number as JSON would write it. */
function shown(value: unknown): string {
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}
