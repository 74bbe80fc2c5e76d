// The request fields that bound a call's cost (output caps, choices, stream), checked once: a wrong shape is refused, never read as absent.
import { ProxyError } from '../errors.ts';
import type { WireFormat } from './wire-format.ts';

/** The largest output cap accepted: the int32 range provider APIs parse. 1e16 or 1e300 is refused, not held or ignored. */
export const MAX_OUTPUT_CAP = 2_147_483_647;
/** The most choices (`n`) accepted on the OpenAI route (OpenAI's own bound). */
export const MAX_CHOICES = 128;

export interface CallParams {
  /** The client's output cap per choice, or null when it set none. OpenAI: the larger of `max_completion_tokens` and `max_tokens`. */
  readonly outputCap: number | null;
  /** Choices asked for (`n`, OpenAI only); 1 when absent. */
  readonly choices: number;
  readonly stream: boolean;
}

/** Each route's numeric cost fields and their bounds; `null` and an absent field both mean "not set". */
const FIELDS: Readonly<Record<WireFormat, readonly { readonly name: string; readonly max: number }[]>> = {
  openai: [{ name: 'max_completion_tokens', max: MAX_OUTPUT_CAP }, { name: 'max_tokens', max: MAX_OUTPUT_CAP }, { name: 'n', max: MAX_CHOICES }],
  anthropic: [{ name: 'max_tokens', max: MAX_OUTPUT_CAP }],
};

/**
 * Reads the fields of `body` that bound the call's cost. Throws `invalid_parameter` (400, the field named in the
 * OpenAI envelope's `param`) for a cap or `n` that is not a whole number from 1 to its bound (a string, a fraction,
 * zero, negative, 1e16) and for a `stream` that is not a boolean.
 */
export function readCallParams(body: Record<string, unknown>, dialect: WireFormat): CallParams {
  const values: Record<string, number | null> = {};
  for (const field of FIELDS[dialect]) values[field.name] = wholeNumber(body[field.name], field);
  const stream = body.stream;
  if (stream !== undefined && stream !== null && typeof stream !== 'boolean') {
    throw new ProxyError('invalid_parameter', { message: `stream must be true or false, got ${shown(stream)}`, param: 'stream' });
  }
  const completion = values.max_completion_tokens ?? null;
  const legacy = values.max_tokens ?? null;
  // both set: the larger, so a server that honours only one of them cannot answer past what was reserved
  const outputCap = completion === null ? legacy : legacy === null ? completion : Math.max(completion, legacy);
  return { outputCap, choices: values.n ?? 1, stream: stream === true };
}

function wholeNumber(value: unknown, field: { readonly name: string; readonly max: number }): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= field.max) return value;
  throw new ProxyError('invalid_parameter', { message: `${field.name} must be a whole number from 1 to ${field.max}, got ${shown(value)}`, param: field.name });
}

/** The value as the message shows it: a string quoted (and cut at 40 characters), a number as JSON would write it. */
function shown(value: unknown): string {
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}
