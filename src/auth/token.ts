// Reads credentials from request headers: the one bearer-token parser (API port, /history, UI) and the agent's `<id>:<secret>`.
export interface AgentCredentials {
  readonly agentId: string;
  readonly secret: string;
}

/**
 * As cllama's ParseBearer: trim; scheme `Bearer` case-insensitively; split on the first colon (colons allowed in the
 * secret); both parts non-empty. A blank Authorization falls back to x-api-key (the Anthropic SDK's default), on both
 * routes. A non-blank but malformed Authorization does not fall back. Null means "missing or malformed".
 */
export function parseAgentCredentials(headers: { authorization?: string; xApiKey?: string }): AgentCredentials | null {
  if (headers.authorization?.trim()) {
    const token = bearerToken(headers.authorization);
    return token === null ? null : splitAgentToken(token);
  }
  const apiKey = headers.xApiKey?.trim() ?? '';
  return apiKey ? splitAgentToken(apiKey) : null;
}

/**
 * The token of an `Authorization: Bearer <token>` header: trimmed, scheme `Bearer` in any case, then spaces (RFC 7235
 * separates them with spaces only), the rest trimmed. Null when absent, another scheme, or no token.
 */
export function bearerToken(header: string | undefined): string | null {
  const text = header?.trim() ?? '';
  const space = text.indexOf(' ');
  if (space < 0 || text.slice(0, space).toLowerCase() !== 'bearer') return null;
  const token = text.slice(space + 1).trim();
  return token === '' ? null : token;
}

/** `<agent-id>:<secret>` split on the first colon; null when either part is empty. */
export function splitAgentToken(token: string): AgentCredentials | null {
  const colon = token.indexOf(':');
  if (colon <= 0 || colon === token.length - 1) return null;
  return { agentId: token.slice(0, colon), secret: token.slice(colon + 1) };
}
