// The providers cllama knows by name: default base URL, auth scheme, wire format, and the env variables that seed them.
import type { AuthScheme } from '../upstream/provider.ts';
import type { WireFormat } from '../protocol/wire-format.ts';

export interface BuiltinProvider {
  readonly name: string;
  readonly baseUrl: string;
  /** Key variables in priority order (the first set one is the primary key). */
  readonly keyVars: readonly string[];
  readonly baseUrlVar: string;
}

export const BUILTIN_PROVIDERS: readonly BuiltinProvider[] = [
  { name: 'openai', baseUrl: 'https://api.openai.com/v1', keyVars: ['OPENAI_API_KEY', 'OPENAI_API_KEY_1', 'OPENAI_API_KEY_2'], baseUrlVar: 'OPENAI_BASE_URL' },
  { name: 'xai', baseUrl: 'https://api.x.ai/v1', keyVars: ['XAI_API_KEY', 'XAI_API_KEY_1'], baseUrlVar: 'XAI_BASE_URL' },
  { name: 'anthropic', baseUrl: 'https://api.anthropic.com/v1', keyVars: ['ANTHROPIC_API_KEY', 'ANTHROPIC_API_KEY_1'], baseUrlVar: 'ANTHROPIC_BASE_URL' },
  { name: 'openrouter', baseUrl: 'https://openrouter.ai/api/v1', keyVars: ['OPENROUTER_API_KEY', 'OPENROUTER_API_KEY_1'], baseUrlVar: 'OPENROUTER_BASE_URL' },
  {
    name: 'google',
    baseUrl: 'https://generativelanguage.googleapis.com/v1beta/openai',
    keyVars: ['GEMINI_API_KEY', 'GEMINI_API_KEY_1', 'GOOGLE_API_KEY'],
    baseUrlVar: 'GOOGLE_BASE_URL',
  },
  { name: 'ollama', baseUrl: 'http://ollama:11434/v1', keyVars: [], baseUrlVar: 'OLLAMA_BASE_URL' },
  {
    name: 'vercel',
    baseUrl: 'https://ai-gateway.vercel.sh/v1',
    keyVars: ['AI_GATEWAY_API_KEY', 'AI_GATEWAY_API_KEY_1', 'AI_GATEWAY_API_KEY_2'],
    baseUrlVar: 'AI_GATEWAY_BASE_URL',
  },
];

export function builtinProvider(name: string): BuiltinProvider | undefined {
  return BUILTIN_PROVIDERS.find((provider) => provider.name === name);
}

/** cllama's default auth: anthropic sends x-api-key, ollama sends nothing, everyone else a bearer token. */
export function defaultAuth(name: string): AuthScheme {
  if (name === 'anthropic') return 'x-api-key';
  if (name === 'ollama') return 'none';
  return 'bearer';
}

export function defaultApiFormat(name: string): WireFormat {
  return name === 'anthropic' ? 'anthropic' : 'openai';
}

/** Labels cllama gives env-seeded keys by position: primary, backup-1, backup-2. */
export function seedKeyLabel(index: number): string {
  return index === 0 ? 'primary' : `backup-${index}`;
}
