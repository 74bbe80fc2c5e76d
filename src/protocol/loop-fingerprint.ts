// Loop fingerprints of a request: hashes of (model, last message, last tool call) and of the tool call alone; no text kept.
import { createHash, hash } from 'node:crypto';

/** What the loop breaker compares between calls: hashes only (16 base64url characters of SHA-256 each). */
export interface LoopFingerprint {
  /** Model + last message + last tool call, normalized. */
  readonly request: string;
  /** The last tool call the conversation holds (name + arguments, normalized), or null when it holds none. */
  readonly toolCall: string | null;
}

/** Ids that differ on every call of an otherwise identical loop: left out of the fingerprint. */
const VOLATILE_KEYS = new Set(['id', 'tool_call_id', 'tool_use_id', 'cache_control']);

/**
 * The fingerprint of a chat request (`messages` on both routes). Normalized: object keys sorted, volatile ids left
 * out, whitespace runs in strings collapsed and trimmed, a tool call's JSON-string arguments parsed first (so key
 * order and spacing do not tell two calls apart).
 */
export function loopFingerprint(input: { body: Readonly<Record<string, unknown>>; model: string }): LoopFingerprint {
  const { body } = input;
  // chat and messages: `messages`; responses: `input` (a list of items, or one text)
  const messages = Array.isArray(body.messages) ? body.messages : Array.isArray(body.input) ? body.input : [body.input ?? null];
  const last = messages.length > 0 ? messages[messages.length - 1] : null;
  const tool = lastToolCall(messages);
  const toolText = tool === null ? '' : canonical(tool);
  return {
    request: digest(`${input.model}\n${canonical(last)}\n${toolText}`),
    toolCall: tool === null ? null : digest(toolText),
  };
}

/**
 * The last tool call of the conversation: of the last assistant message that made any (chat `tool_calls`, messages
 * `tool_use` blocks), or the last responses `function_call` item.
 */
function lastToolCall(messages: readonly unknown[]): unknown {
  for (let index = messages.length - 1; index >= 0; index--) {
    const message = messages[index];
    if (isObject(message) && message.type === 'function_call') return { name: message.name, arguments: parseArguments(message.arguments) };
    if (!isObject(message) || message.role !== 'assistant') continue;
    if (Array.isArray(message.tool_calls) && message.tool_calls.length > 0) {
      const call = message.tool_calls[message.tool_calls.length - 1];
      const fn = isObject(call) && isObject(call.function) ? call.function : null;
      if (fn) return { name: fn.name, arguments: parseArguments(fn.arguments) };
    }
    if (Array.isArray(message.content)) {
      for (let block = message.content.length - 1; block >= 0; block--) {
        const part = message.content[block];
        if (isObject(part) && part.type === 'tool_use') return { name: part.name, arguments: part.input };
      }
    }
  }
  return null;
}

function parseArguments(raw: unknown): unknown {
  if (typeof raw !== 'string') return raw;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * Whitespace runs other than a lone space: replacing only these gives what replacing every run by one space gives,
 * with far fewer replacements in ordinary text (each one costs the regex engine a re-entry).
 */
const WHITESPACE_TO_COLLAPSE = /\s{2,}|[^\S ]/g;

/** A normalized string longer than this enters the fingerprint as its length and own hash, not escaped and copied. */
const LONG_STRING = 1024;

/**
 * Stable text of a JSON value (depth is bounded by the body's nesting check before parsing). Every character of every
 * string counts (no part of a message is left out, so two results that differ anywhere differ here), after whitespace
 * is collapsed: whether a string is long is decided on its normalized form, so padding it with whitespace changes
 * nothing.
 */
function canonical(value: unknown): string {
  if (typeof value === 'string') {
    const text = value.replace(WHITESPACE_TO_COLLAPSE, ' ').trim();
    // a Hash object streams a long text (the one-shot hash() read 1.13x slower at 64 KB)
    return text.length > LONG_STRING ? `#${text.length}:${createHash('sha256').update(text).digest('base64url')}` : JSON.stringify(text);
  }
  // built by appending (no key list filtered, mapped and joined per object): this runs on every call's last message
  if (Array.isArray(value)) {
    let text = '[';
    for (let index = 0; index < value.length; index++) text += index === 0 ? canonical(value[index]) : `,${canonical(value[index])}`;
    return `${text}]`;
  }
  if (isObject(value)) {
    const keys = Object.keys(value).sort();
    let text = '{';
    for (const key of keys) {
      if (VOLATILE_KEYS.has(key)) continue;
      text += `${text.length === 1 ? '' : ','}${JSON.stringify(key)}:${canonical(value[key])}`;
    }
    return `${text}}`;
  }
  return value === undefined ? 'null' : JSON.stringify(value);
}

function digest(text: string): string {
  return hash('sha256', text, 'base64url').slice(0, 16); // one-shot: no Hash object per call
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
