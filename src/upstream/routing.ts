// Pure model routing as cllama does it: (route path, model string) → provider, upstream model and upstream URL.
import { ProxyError } from '../errors.ts';
import { normalizeModelName } from './model-name.ts';
import type { Provider, Route } from './provider.ts';
import type { ProviderRegistry } from './registry.ts';

export const CHAT_PATH = '/v1/chat/completions';
export const MESSAGES_PATH = '/v1/messages';
export const RESPONSES_PATH = '/v1/responses';
const OPENROUTER = 'openrouter';
const ANTHROPIC = 'anthropic';

export interface RouteInput {
  /** Request path without the query string. */
  readonly path: string;
  /** Query string without the leading `?` ('' when none); copied onto the upstream URL. */
  readonly query: string;
  /** The body's `model` as sent (any JSON type). */
  readonly model: unknown;
  readonly registry: ProviderRegistry;
  /** Refuse a provider without a usable key (default true); false: where the model would go, keys aside. */
  readonly checkKeys?: boolean;
}

/** `provider/model` split on the first `/`, provider lower-cased; null when there is no `/` or either side is empty. */
export function splitModel(model: string): { provider: string; model: string } | null {
  const slash = model.indexOf('/');
  if (slash <= 0 || slash === model.length - 1) return null;
  return { provider: model.slice(0, slash).trim().toLowerCase(), model: model.slice(slash + 1) };
}

/**
 * Routes the body's model, normalized first (upstream/model-name.ts). Throws ProxyError (missing_model,
 * invalid_model_name, model_not_routable, unknown_provider, provider_not_configured, invalid_request, not_found).
 */
export function resolveRoute(input: RouteInput): Route {
  if (input.model !== undefined && input.model !== null && typeof input.model !== 'string') {
    throw new ProxyError('missing_model', { message: `model must be a string, got ${Array.isArray(input.model) ? 'an array' : typeof input.model}` });
  }
  if (typeof input.model !== 'string' || !input.model.trim()) throw new ProxyError('missing_model');
  // one name for routing, pricing, scope matching and the events: variants of a name are the same model
  const model = normalizeModelName(input.model);
  const requested = { requestedModel: model, model };
  // the Responses API routes as chat completions do: same providers, same prefixes, same bridging
  if (input.path === CHAT_PATH || input.path === RESPONSES_PATH) return chatRoute({ input, ...requested });
  if (input.path === MESSAGES_PATH) return messagesRoute({ input, ...requested });
  throw new ProxyError('not_found', { message: `no model route for ${input.path}` });
}

/**
 * `/v1/chat/completions`: `provider/model` goes to that provider with the prefix stripped. An unregistered prefix goes to
 * OpenRouter with the full string (`meta-llama/x`), and an anthropic-format provider is bridged through OpenRouter as
 * `anthropic/<model>`, both only when OpenRouter is registered. Difference from cllama: these client errors are 400, not 502.
 */
function chatRoute(options: { input: RouteInput; requestedModel: string; model: string }): Route {
  const { input, requestedModel, model } = options;
  const split = splitModel(model);
  if (!split) throw new ProxyError('model_not_routable', { message: unroutableMessage(model) });
  const provider = input.registry.get(split.provider);
  const openrouter = input.registry.get(OPENROUTER);
  if (!provider) {
    if (openrouter) return buildRoute({ input, provider: openrouter, requestedModel, upstreamModel: model });
    throw new ProxyError('unknown_provider', { message: `unknown provider "${split.provider}"` });
  }
  if (provider.apiFormat === 'anthropic') {
    if (openrouter) return buildRoute({ input, provider: openrouter, requestedModel, upstreamModel: `anthropic/${split.model}` });
    throw new ProxyError('unknown_provider', {
      message: `provider "${provider.name}" uses anthropic format but request is openai format; configure openrouter for format bridging`,
    });
  }
  return buildRoute({ input, provider, requestedModel, upstreamModel: split.model });
}

/** `/v1/messages`: always Anthropic; a bare model is forwarded unchanged, `anthropic/<m>` becomes `<m>`, any other prefix is refused (400; cllama: 502). */
function messagesRoute(options: { input: RouteInput; requestedModel: string; model: string }): Route {
  const { input, requestedModel, model } = options;
  const provider = input.registry.get(ANTHROPIC);
  if (!provider) throw new ProxyError('provider_not_configured', { message: 'provider "anthropic" is not configured' });
  let upstreamModel = model;
  if (model.includes('/')) {
    const split = splitModel(model);
    if (!split || split.provider !== ANTHROPIC) throw new ProxyError('invalid_request', { message: 'model must target anthropic on /v1/messages' });
    upstreamModel = split.model;
  }
  return buildRoute({ input, provider, requestedModel, upstreamModel });
}

function buildRoute(options: { input: RouteInput; provider: Provider; requestedModel: string; upstreamModel: string }): Route {
  const { input, provider, requestedModel, upstreamModel } = options;
  if (input.checkKeys !== false && provider.auth !== 'none' && provider.keys.length === 0) {
    throw new ProxyError('provider_not_configured', { message: `provider auth not configured: "${provider.name}" has no usable key` });
  }
  const path = input.path.startsWith('/v1/') ? input.path.slice('/v1'.length) : input.path;
  return { provider, requestedModel, upstreamModel, url: `${provider.baseUrl}${path}${input.query ? `?${input.query}` : ''}` };
}

/** Why a chat model string does not route: no '/', nothing before it, or nothing after it. */
function unroutableMessage(model: string): string {
  const shown = JSON.stringify(model.length > 100 ? `${model.slice(0, 100)}…` : model);
  const slash = model.indexOf('/');
  if (slash < 0) return `model must be provider-prefixed: <provider>/<model> (got ${shown})`; // cllama's text first
  if (slash === 0) return `model ${shown} names no provider before the "/": <provider>/<model>`;
  return `model ${shown} names no model after the "/": <provider>/<model>`;
}

/** Whether a model would route on a path: for choices made before routing (a budget policy's downgrade target). */
export function routableOn(registry: ProviderRegistry): (target: { readonly path: string; readonly model: string }) => boolean {
  return (target) => {
    try {
      resolveRoute({ path: target.path, query: '', model: target.model, registry });
      return true;
    } catch {
      return false;
    }
  };
}
