// cllama's Responses adapter: which chat calls it takes (responses-only models), and what it makes of a request.
import type { ResponsesAdapterSettings } from './settings.ts';

/** The models only the Responses API serves, built in: provider openai, upstream model starting with one of these. */
const BUILT_IN_PREFIXES = ['gpt-5.6', 'gpt-5-pro'];

/**
 * Whether a chat call to this provider and upstream model goes through the Responses API: the effective provider
 * (after bridging: a model sent to openrouter is matched as provider `openrouter`) and a case-sensitive model prefix.
 */
export function responsesAdapterRequired(settings: ResponsesAdapterSettings, target: { readonly provider: string; readonly model: string }): boolean {
  if (settings.disabled) return false;
  const provider = target.provider.trim().toLowerCase();
  const model = target.model.trim();
  if (!provider || !model) return false;
  if (provider === 'openai' && BUILT_IN_PREFIXES.some((prefix) => model.startsWith(prefix))) return true;
  return settings.models.some((entry) => entry.provider === provider && model.startsWith(entry.prefix));
}

/** What the adapter tells the request path: the body to send, and the interventions (cllama's mutation names) it made. */
export interface AdaptedRequest {
  readonly body: Record<string, unknown>;
  readonly interventions: readonly string[];
}
