// The page's address: #/ (overview) or #/agents/<id>, read without throwing whatever was typed or pasted.

/** The registry's rule for agent ids (src/auth/agent.ts): anything else names no agent and is never sent to the API. */
const AGENT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isAgentId(id) {
  return typeof id === 'string' && AGENT_ID.test(id) && !id.includes('..');
}

/** decodeURIComponent, or the text as it is when it is not valid percent-encoding (`%E0%A4%A`). */
export function safeDecode(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

export function parseRoute(hash) {
  const match = /^#\/agents\/([^/?#]+)/.exec(hash);
  return match ? { page: 'agent', id: safeDecode(match[1]) } : { page: 'overview' };
}
