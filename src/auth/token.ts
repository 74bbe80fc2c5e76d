// Parses the agent credential `<agent-id>:<secret>` from Authorization (Bearer) or, when that is blank, x-api-key.
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
  let header = headers.authorization?.trim() ?? '';
  if (!header) {
    const apiKey = headers.xApiKey?.trim() ?? '';
    if (!apiKey) return null;
    header = `Bearer ${apiKey}`;
  }
  const space = header.indexOf(' ');
  if (space < 0 || header.slice(0, space).toLowerCase() !== 'bearer') return null;
  return splitAgentToken(header.slice(space + 1).trim());
}

/** `<agent-id>:<secret>` split on the first colon; null when either part is empty. */
export function splitAgentToken(token: string): AgentCredentials | null {
  const colon = token.indexOf(':');
  if (colon <= 0 || colon === token.length - 1) return null;
  return { agentId: token.slice(0, colon), secret: token.slice(colon + 1) };
}
