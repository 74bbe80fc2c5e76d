// Test helper: a temporary root for the real binary: one agent, OpenAI on a fake upstream, and the env pointing at it.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_FORWARD_HEADERS } from './harness.ts';

export interface ProcessRoot {
  readonly root: string;
  /** CLAW_CONTEXT_ROOT, CLAW_AUTH_DIR and CLAW_SESSION_HISTORY_DIR (`<root>/history`) for `tollgate serve`. */
  readonly env: Record<string, string>;
}

/** `<root>/context/<agentId>/metadata.json` and `<root>/auth/providers.json` with `openai` on `upstreamUrl`. */
export function writeProcessRoot(input: {
  name: string;
  upstreamUrl: string;
  agentId: string;
  metadata: Record<string, unknown>;
  apiKey?: string;
}): ProcessRoot {
  const root = mkdtempSync(join(tmpdir(), `tollgate-${input.name}-`));
  mkdirSync(join(root, 'context', input.agentId), { recursive: true });
  writeFileSync(join(root, 'context', input.agentId, 'metadata.json'), JSON.stringify(input.metadata));
  mkdirSync(join(root, 'auth'));
  const openai = { base_url: `${input.upstreamUrl}/v1`, api_key: input.apiKey ?? 'sk-real', auth: 'bearer', forward_headers: TEST_FORWARD_HEADERS };
  writeFileSync(join(root, 'auth', 'providers.json'), JSON.stringify({ providers: { openai } }));
  return { root, env: { CLAW_CONTEXT_ROOT: join(root, 'context'), CLAW_AUTH_DIR: join(root, 'auth'), CLAW_SESSION_HISTORY_DIR: join(root, 'history') } };
}
