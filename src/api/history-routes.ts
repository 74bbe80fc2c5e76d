// The history API on the proxy port (cllama contract): GET /history for the calling agent, GET /history/{id} by token.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isPlainAgentId, type Agent } from '../auth/agent.ts';
import { secretsEqual } from '../auth/secret-compare.ts';
import { bearerToken, parseAgentCredentials, splitAgentToken } from '../auth/token.ts';
import { headerValue } from '../http/header-value.ts';
import { MAX_HISTORY_LIMIT, readHistoryPage } from '../history/reader.ts';
import type { AgentDirectory } from '../auth/agent.ts';
import { parseRfc3339 } from '../http/rfc3339.ts';
import { sendText } from '../http/respond.ts';
import type { ExtraRoute } from './server.ts';

export interface HistoryRoutesOptions {
  readonly agents: AgentDirectory;
  /** Session history root; null = history not configured (every call answers 404). */
  readonly historyDir: string | null;
  /** CLLAMA_UI_TOKEN, the admin token that may read any agent's history. */
  readonly uiToken: string | null;
}

const PREFIX = '/history/';

/** A route for createApiServer's `extraRoutes`. Errors are text/plain, as cllama's http.Error. */
export function historyRoutes(options: HistoryRoutesOptions): ExtraRoute {
  return async (req, res, path) => {
    if (path !== '/history' && !path.startsWith(PREFIX)) return false;
    req.resume(); // no body is read; drain one if sent so keep-alive stays usable
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendText(res, 405, 'method not allowed', { allow: 'GET, HEAD' });
      return true;
    }
    if (!options.historyDir) {
      sendText(res, 404, 'history not configured');
      return true;
    }
    const agent = path === '/history' ? authenticateSelf(req, res, options) : authorizeNamed(req, res, options, path.slice(PREFIX.length));
    if (!agent) return true;
    await answer({ req, res, dir: options.historyDir, agent });
    return true;
  };
}

/** `GET /history`: only the agent's own `<id>:<secret>`, validated as on the model routes. */
function authenticateSelf(req: IncomingMessage, res: ServerResponse, options: HistoryRoutesOptions): Agent | null {
  const credentials = parseAgentCredentials({ authorization: req.headers.authorization, xApiKey: headerValue(req.headers['x-api-key']) });
  if (!credentials) return refuse(res, 401, 'invalid bearer token');
  const agent = options.agents.authenticate(credentials);
  if (agent) return agent;
  return refuse(res, 403, options.agents.get(credentials.agentId) ? 'invalid agent secret' : 'agent context not found');
}

/**
 * `GET /history/{id}`: the admin token, the agent's own full token, or one of its cllama-history replay tokens. Without
 * a token that may read it, a known and an unknown id get the same answer (401 with none, 403 with another), so ids
 * cannot be enumerated; only the admin token learns that an id is unknown (404). cllama looked the id up first.
 */
function authorizeNamed(req: IncomingMessage, res: ServerResponse, options: HistoryRoutesOptions, rawId: string): Agent | null {
  let id: string;
  try {
    id = decodeURIComponent(rawId);
  } catch {
    return refuse(res, 400, 'invalid agent id');
  }
  if (!isPlainAgentId(id)) return refuse(res, 400, 'invalid agent id');
  const token = presentedToken(req);
  if (token === null) return refuse(res, 401, 'missing bearer token');
  const agent = options.agents.get(id);
  const admin = options.uiToken !== null && secretsEqual(token, options.uiToken);
  if (!agent) return admin ? refuse(res, 404, 'agent context not found') : refuse(res, 403, 'forbidden');
  return admin || mayRead({ token, agent, options }) ? agent : refuse(res, 403, 'forbidden');
}

/** The agent's own full token, or one of its replay tokens (every one compared: no early exit). */
function mayRead(input: { token: string; agent: Agent; options: HistoryRoutesOptions }): boolean {
  const { token, agent, options } = input;
  let allowed = false;
  const credentials = splitAgentToken(token);
  if (credentials && credentials.agentId === agent.id && options.agents.authenticate(credentials) === agent) allowed = true;
  for (const replay of agent.historyTokens) {
    if (secretsEqual(token, replay)) allowed = true;
  }
  return allowed;
}

/** `Authorization: Bearer <token>` (auth/token.ts), else a raw `x-api-key`. */
function presentedToken(req: IncomingMessage): string | null {
  const bearer = bearerToken(req.headers.authorization);
  if (bearer !== null) return bearer;
  const apiKey = headerValue(req.headers['x-api-key'])?.trim() ?? '';
  return apiKey || null;
}

async function answer(input: { req: IncomingMessage; res: ServerResponse; dir: string; agent: Agent }): Promise<void> {
  const { req, res } = input;
  const query = new URL(req.url ?? '/', 'http://proxy.invalid').searchParams;
  const afterText = query.get('after') ?? '';
  let after: Date | null = null;
  if (afterText !== '') {
    const ms = parseRfc3339(afterText);
    if (ms === null) return void sendText(res, 400, 'after must be RFC3339');
    after = new Date(ms);
  }
  const limitText = query.get('limit') ?? '';
  let limit: number | undefined;
  if (limitText !== '') {
    if (!/^[+-]?\d+$/.test(limitText)) return void sendText(res, 400, 'limit must be an integer');
    limit = Number(limitText);
    if (limit <= 0) return void sendText(res, 400, 'limit must be > 0');
    limit = Math.min(limit, MAX_HISTORY_LIMIT);
  }
  let body: string;
  let skipped: Record<string, string>;
  try {
    const page = await readHistoryPage({ dir: input.dir, agentId: input.agent.id, after, limit });
    body = page.entries.map((entry) => `${JSON.stringify(entry)}\n`).join('');
    skipped = skippedHeaders(page);
  } catch (error) {
    return void sendText(res, 500, `read history: ${(error as Error).message}`);
  }
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...skipped });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * What the read passed over, said in headers (the body stays cllama's NDJSON): lines that are not entries (a torn
 * last line included) and history files that exist but could not be read. Absent when nothing was skipped.
 */
function skippedHeaders(page: { skippedLines: number; tornLines: number; unreadableFiles: number }): Record<string, string> {
  const headers: Record<string, string> = {};
  if (page.skippedLines + page.tornLines > 0) headers['x-tollgate-history-skipped-lines'] = String(page.skippedLines + page.tornLines);
  if (page.unreadableFiles > 0) headers['x-tollgate-history-unreadable-files'] = String(page.unreadableFiles);
  return headers;
}

function refuse(res: ServerResponse, status: number, message: string): null {
  sendText(res, status, message);
  return null;
}
