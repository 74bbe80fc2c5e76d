// Interprets the `token` stored in metadata.json exactly as cllama's validateSecret does.
export type StoredSecret = { readonly ok: true; readonly secret: string } | { readonly ok: false; readonly problem: string };

/**
 * Trim; strip a leading `bearer ` (any case); `agent:secret` form: the agent part, when non-empty, must be this agent's
 * id and the secret is what follows the first colon; otherwise the whole string is the secret. The problem text never
 * contains the token.
 */
export function storedSecret(options: { agentId: string; token: unknown }): StoredSecret {
  const { agentId, token } = options;
  if (token === undefined || token === null) return { ok: false, problem: 'token: missing' };
  if (typeof token !== 'string') return { ok: false, problem: 'token: must be a string' };
  let stored = token.trim();
  if (stored.toLowerCase().startsWith('bearer ')) stored = stored.slice('bearer '.length).trim();
  if (!stored) return { ok: false, problem: 'token: empty' };
  const colon = stored.indexOf(':');
  if (colon < 0) return { ok: true, secret: stored };
  const storedAgent = stored.slice(0, colon);
  const secret = stored.slice(colon + 1);
  if (storedAgent && storedAgent !== agentId) return { ok: false, problem: 'token: names a different agent than its directory' };
  if (!secret) return { ok: false, problem: 'token: empty secret after the colon' };
  return { ok: true, secret };
}
