// cllama's Responses adapter: which chat calls it takes (responses-only models) and its knobs, read once at start.
/** The adapter's configuration (CLLAMA_RESPONSES_* read once by config/load.ts; cllama reads them on every request). */
export interface ResponsesAdapterSettings {
  /** CLLAMA_RESPONSES_API_MODELS: more `<provider>/<model-prefix>` entries besides the built-in ones. */
  readonly models: readonly { readonly provider: string; readonly prefix: string }[];
  /** CLLAMA_RESPONSES_API_DISABLED: no chat call goes through the adapter. */
  readonly disabled: boolean;
  /** CLLAMA_RESPONSES_DEFAULT_REASONING_EFFORT, trimmed and lower-cased; '' when unset. */
  readonly defaultReasoningEffort: string;
  /** CLLAMA_RESPONSES_REQUIRED_TOOL_CHOICE_AS_AUTO: `tool_choice: "required"` is sent as `"auto"`. */
  readonly requiredToolChoiceAsAuto: boolean;
}

export const ADAPTER_OFF: ResponsesAdapterSettings = { models: [], disabled: true, defaultReasoningEffort: '', requiredToolChoiceAsAuto: false };

/** The models only the Responses API serves, built in: provider openai, upstream model starting with one of these. */
const BUILT_IN_PREFIXES = ['gpt-5.6', 'gpt-5-pro'];

/** A knob's boolean: trimmed, lower-cased, one of 1 / true / yes / on (cllama's rule); anything else is off. */
export function knobOn(value: string | undefined): boolean {
  return ['1', 'true', 'yes', 'on'].includes((value ?? '').trim().toLowerCase());
}

/** CLLAMA_RESPONSES_API_MODELS: comma-separated `<provider>/<model-prefix>`; entries without `/` or a prefix are ignored. */
export function parseAdapterModels(value: string | undefined): ResponsesAdapterSettings['models'] {
  const out: { provider: string; prefix: string }[] = [];
  for (const raw of (value ?? '').split(',')) {
    const entry = raw.trim();
    const slash = entry.indexOf('/');
    if (slash <= 0) continue;
    const provider = entry.slice(0, slash).trim().toLowerCase();
    const prefix = entry.slice(slash + 1).trim();
    if (provider && prefix) out.push({ provider, prefix });
  }
  return out;
}

export function adapterSettingsFromEnv(env: Readonly<Record<string, string | undefined>>): ResponsesAdapterSettings {
  return {
    models: parseAdapterModels(env.CLLAMA_RESPONSES_API_MODELS),
    disabled: knobOn(env.CLLAMA_RESPONSES_API_DISABLED),
    defaultReasoningEffort: (env.CLLAMA_RESPONSES_DEFAULT_REASONING_EFFORT ?? '').trim().toLowerCase(),
    requiredToolChoiceAsAuto: knobOn(env.CLLAMA_RESPONSES_REQUIRED_TOOL_CHOICE_AS_AUTO),
  };
}

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
