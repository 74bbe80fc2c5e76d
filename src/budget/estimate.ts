// Cheap pre-call estimates for admission: an upper bound of input tokens from the body, and the client's output cap times its choices.
import type { CallParams } from '../protocol/call-params.ts';
import type { Protocol } from '../protocol/protocol.ts';

/** Tokens charged for one image part, whatever its size (Anthropic caps an image near 1,600 tokens; OpenAI high detail ~1,100 per 1024²). */
export const IMAGE_TOKENS = 1_600;
/** Per-message framing tokens (OpenAI's documented 3-4 per message, rounded up) and per-request priming tokens. */
export const MESSAGE_OVERHEAD_TOKENS = 4;
export const REQUEST_OVERHEAD_TOKENS = 3;
/** UTF-8 bytes per token assumed. Real tokenizers average ~4 bytes/token on English, ~3.5 on code, ~3 on CJK. */
export const BYTES_PER_TOKEN = 3;

/** Body fields that are parameters, not prompt text. */
const SKIPPED_KEYS = new Set([
  'model',
  'stream',
  'stream_options',
  'max_tokens',
  'max_completion_tokens',
  'n',
  'temperature',
  'top_p',
  'top_k',
  'metadata',
  'user',
  'store',
  'service_tier',
  'seed',
  'logit_bias',
]);

/**
 * A conservative estimate of the request's input tokens without a tokenizer:
 * `ceil(utf8 bytes of every string and object key in the prompt-bearing fields / 3)`
 * `+ 4 per message the route frames (protocol promptMessages: + 1 for an Anthropic top-level system or a Responses
 * `instructions`) + 3 + 1,600 per image part`.
 * It over-counts ordinary text (typically by 25-40%) so that the pre-call reservation is an upper bound; adversarial
 * text (random hex, long emoji runs) can still tokenize denser. The reservation is settled to the real usage after the call.
 */
export function estimateInputTokens(body: Record<string, unknown>, protocol: Pick<Protocol, 'promptMessages'>): number {
  const prompt: unknown[] = [];
  for (const [key, value] of Object.entries(body)) {
    if (!SKIPPED_KEYS.has(key)) prompt.push(value);
  }
  const { bytes, images } = textSize(prompt);
  return Math.ceil(bytes / BYTES_PER_TOKEN) + protocol.promptMessages(body) * MESSAGE_OVERHEAD_TOKENS + REQUEST_OVERHEAD_TOKENS + images * IMAGE_TOKENS;
}

/** UTF-8 bytes of every string and object key in parsed JSON values, and the image parts among them (counted apart). */
export function textSize(values: readonly unknown[]): { bytes: number; images: number } {
  let bytes = 0;
  let images = 0;
  const stack = values.slice();
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'string') {
      bytes += Buffer.byteLength(value, 'utf8');
    } else if (Array.isArray(value)) {
      for (const item of value) stack.push(item);
    } else if (typeof value === 'object' && value !== null) {
      if (isImagePart(value as Record<string, unknown>)) {
        images += 1;
        continue;
      }
      for (const [key, item] of Object.entries(value)) {
        bytes += key.length;
        stack.push(item);
      }
    }
  }
  return { bytes, images };
}

function isImagePart(part: Record<string, unknown>): boolean {
  return part.type === 'image_url' || part.type === 'image' || part.type === 'input_image';
}

/**
 * Both estimates of one body, the input worked out on first use (a call nothing can refuse never walks its body).
 * `maxOutputTokens` is the client's cap times its choices (`n`), null when it set no cap; `choices` multiplies the
 * default cap the engine reserves then.
 */
export class BodyEstimate {
  readonly #body: Record<string, unknown>;
  readonly #protocol: Protocol;
  readonly #params: CallParams;
  #inputTokens: number | undefined;

  constructor(input: { body: Record<string, unknown>; protocol: Protocol; params: CallParams }) {
    this.#body = input.body;
    this.#protocol = input.protocol;
    this.#params = input.params;
  }

  get inputTokens(): number {
    return (this.#inputTokens ??= estimateInputTokens(this.#body, this.#protocol));
  }

  get maxOutputTokens(): number | null {
    const { outputCap, choices } = this.#params;
    return outputCap === null ? null : outputCap * choices;
  }

  get choices(): number {
    return this.#params.choices;
  }
}

/** What admission reads of a body's estimate (BodyEstimate, or a plain object in tests). */
export interface OutputEstimate {
  readonly maxOutputTokens: number | null;
  readonly choices?: number;
}

/** Output tokens reserved: the client's cap times its choices, else the default cap times its choices. */
export function reservedOutputTokens(estimate: OutputEstimate, defaultCap: number): number {
  return estimate.maxOutputTokens ?? defaultCap * (estimate.choices ?? 1);
}

/** The cap to set on the upstream request: the default reserved per choice when the client set none, unless the policy opts out. */
export function upstreamOutputCap(input: { estimate: OutputEstimate; policy: { readonly capOutputTokens: boolean }; defaultCap: number }): number | null {
  return input.estimate.maxOutputTokens === null && input.policy.capOutputTokens ? input.defaultCap : null;
}
