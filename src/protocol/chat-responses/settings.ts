// cllama's Responses adapter knobs (CLLAMA_RESPONSES_*), read once at start by config/load.ts: which extra models it takes, how it shapes calls.
/** The adapter's configuration (read once by config/load.ts; cllama reads them on every request). */
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
