// The wire formats tollgate speaks to agents and providers: OpenAI's chat completions, and Anthropic's messages.
export type WireFormat = 'openai' | 'anthropic';
