// The agent behind a request's credential (Bearer or x-api-key), from the registry in memory, before its body is read.
import type { IncomingMessage } from 'node:http';
import type { Agent } from '../auth/agent.ts';
import { parseAgentCredentials } from '../auth/token.ts';
import { ProxyError } from '../errors.ts';
import { headerValue } from '../http/header-value.ts';
import type { AgentDirectory } from '../auth/agent.ts';

export function authenticate(req: IncomingMessage, agents: AgentDirectory): Agent {
  const credentials = parseAgentCredentials({
    authorization: req.headers.authorization,
    xApiKey: headerValue(req.headers['x-api-key']),
  });
  if (!credentials) throw new ProxyError('auth_missing');
  const agent = agents.authenticate(credentials);
  // cllama's two messages: the agent is unknown, or its secret is wrong (GET /history tells them apart too)
  if (!agent) throw new ProxyError('auth_invalid', { message: agents.get(credentials.agentId) ? 'invalid agent secret' : 'agent context not found' });
  return agent;
}
