// Key management on the UI port: cllama's form posts (303 to /), its /events SSE, and the admin API's /api/providers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KeyPools } from '../keys/key-pools.ts';
import { addKey, addProvider, changeKey, KeyAdminError, type KeyAction } from '../keys/key-admin.ts';
import { cllamaProviders, providerRows } from '../keys/pool-view.ts';
import { microsToUsd } from '../pricing/money.ts';
import type { AgentDirectory } from '../auth/agent.ts';
import type { CostTotals } from './cost-totals.ts';
import { pricingStatus } from './costs-api.ts';
import { AdminError, readJsonBody } from './http.ts';
import { sendJson, sendText } from '../http/respond.ts';
import type { AdminRoute } from './api-routes.ts';
import { sameOrigin } from './ui-auth.ts';

/** cllama's form routes: POST only (anything else is its 404). */
export const KEY_FORM_PATHS: ReadonlySet<string> = new Set(['/providers/add', '/keys/add', '/keys/activate', '/keys/disable', '/keys/delete']);
const MAX_FORM_BYTES = 64 * 1024;
/** cllama's ticker: one /events frame at once, then one every 3 s. */
const EVENTS_EVERY_MS = 3000;

/** A form post from another site is refused whatever it carries (the session cookie is SameSite=Strict as well). */
export function crossSite(req: IncomingMessage): boolean {
  return !sameOrigin(req);
}

/** Runs one form post (authorised by the caller): 303 to / as cllama, or 400 with cllama's message as plain text. */
export async function runKeyForm(input: { req: IncomingMessage; res: ServerResponse; path: string; url: URL; keys: KeyPools }): Promise<void> {
  const { req, res, path, keys } = input;
  const fields = await readForm(req, input.url);
  if (fields === null) {
    sendText(res, 400, 'bad form');
    return;
  }
  try {
    if (path === '/providers/add') await addProvider(keys, fields);
    else if (path === '/keys/add') await addKey(keys, fields);
    else await changeKey(keys, { ...fields, action: path.slice('/keys/'.length) as KeyAction });
  } catch (error) {
    if (!(error instanceof KeyAdminError)) throw error;
    sendText(res, 400, error.message);
    return;
  }
  res.writeHead(303, { location: '/', 'content-length': 0, 'cache-control': 'no-store' });
  res.end();
}

/** `application/x-www-form-urlencoded` body fields over the query's (body wins), trimmed; null when the body is too big. */
async function readForm(req: IncomingMessage, url: URL): Promise<Record<string, string> | null> {
  const fields: Record<string, string> = {};
  for (const [name, value] of url.searchParams) fields[name] = value.trim();
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) return null;
    chunks.push(chunk);
  }
  if (type === 'application/x-www-form-urlencoded') {
    for (const [name, value] of new URLSearchParams(Buffer.concat(chunks).toString('utf8'))) fields[name] = value.trim();
  }
  return fields;
}

/** The admin API: GET /api/providers; POST /api/providers; POST /api/providers/{p}/keys; POST .../keys/{id}/{action}; DELETE .../keys/{id}. */
export function matchKeyApiRoute(input: { keys: KeyPools; req: IncomingMessage; res: ServerResponse; parts: readonly string[] }): AdminRoute | null {
  const { keys, req, res, parts } = input;
  if (parts[0] !== 'api' || parts[1] !== 'providers') return null;
  const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
  const write = (run: (body: Record<string, unknown>) => Promise<unknown>): AdminRoute => ({
    access: 'write',
    run: async () => {
      const body = ((await readJsonBody(req, MAX_FORM_BYTES)) ?? {}) as Record<string, unknown>;
      if (typeof body !== 'object' || Array.isArray(body)) throw new AdminError('invalid_request', 'body must be a JSON object');
      try {
        await run(Object.fromEntries(Object.entries(body).map(([name, value]) => [name, typeof value === 'string' ? value : undefined])));
      } catch (error) {
        if (error instanceof KeyAdminError) throw new AdminError('invalid_request', error.message);
        throw error;
      }
      sendJson(res, 200, { providers: providerRows(keys.list(), keys.now()) });
    },
  });
  const refuse = (allow: string): AdminRoute => ({
    access: 'read',
    run: async () => {
      throw new AdminError('method_not_allowed', `${req.method} not allowed on /${parts.join('/')}`, { headers: { allow } });
    },
  });
  if (parts.length === 2) {
    if (method === 'GET') return { access: 'read', run: async () => sendJson(res, 200, { providers: providerRows(keys.list(), keys.now()) }) };
    if (method === 'POST') return write((body) => addProvider(keys, body));
    return refuse('GET, POST');
  }
  const provider = parts[2];
  if (parts.length === 4 && parts[3] === 'keys') return method === 'POST' ? write((body) => addKey(keys, { ...body, provider })) : refuse('POST');
  if (parts.length === 5 && parts[3] === 'keys')
    return method === 'DELETE' ? write(() => changeKey(keys, { provider, key_id: parts[4], action: 'delete' })) : refuse('DELETE');
  if (parts.length === 6 && parts[3] === 'keys' && (parts[5] === 'activate' || parts[5] === 'disable')) {
    const action = parts[5];
    return method === 'POST' ? write(() => changeKey(keys, { provider, key_id: parts[4], action })) : refuse('POST');
  }
  return null;
}

/** cllama's `GET /events`: `data:<dashboard state>\n\n` at once, then every 3 s, until the client leaves. */
export function serveCllamaEvents(input: { req: IncomingMessage; res: ServerResponse; keys: KeyPools; costs: CostTotals; agents: AgentDirectory }): void {
  const { req, res } = input;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const send = () => {
    if (!res.destroyed) res.write(`data:${JSON.stringify(dashboardState(input))}\n\n`);
  };
  send();
  const timer = setInterval(send, EVENTS_EVERY_MS);
  res.once('close', () => clearInterval(timer));
}

/** cllama's buildDashboardState, camelCase, its field order. */
function dashboardState(input: { keys: KeyPools; costs: CostTotals; agents: AgentDirectory }): Record<string, unknown> {
  const totals = input.costs.agents();
  const byId = new Map(totals.map((agent) => [agent.agent, agent]));
  const ids = [...new Set([...input.agents.list().map((agent) => agent.id), ...byId.keys()])].sort();
  const podName = input.agents.list().find((agent) => agent.pod)?.pod;
  const agents = ids.map((id) => {
    const agent = input.agents.get(id);
    const spent = byId.get(id);
    return {
      agentId: id,
      ...(agent?.service ? { service: agent.service } : {}),
      ...(agent?.type ? { type: agent.type } : {}),
      totalRequests: spent?.requests ?? 0,
      totalCostUSD: microsToUsd(spent?.costMicros ?? 0),
      totalTokensIn: spent?.inputTokens ?? 0,
      totalTokensOut: spent?.outputTokens ?? 0,
      models: (spent?.models ?? []).map((model) => ({
        provider: model.provider,
        model: model.model,
        requests: model.requests,
        tokensIn: model.inputTokens,
        tokensOut: model.outputTokens,
        costUSD: microsToUsd(model.costMicros),
        pricedRequests: model.pricedRequests,
        unpricedRequests: model.unpricedRequests,
        pricingStatus: pricingStatus(model),
      })),
    };
  });
  const pricingGaps = totals
    .flatMap((agent) =>
      agent.models
        .filter((model) => model.unpricedRequests > 0)
        .map((model) => ({
          agentId: agent.agent,
          provider: model.provider,
          model: model.model,
          requests: model.requests,
          tokensIn: model.inputTokens,
          tokensOut: model.outputTokens,
          unpricedRequests: model.unpricedRequests,
          pricingStatus: pricingStatus(model),
        })),
    )
    .sort((a, b) => b.unpricedRequests - a.unpricedRequests || `${a.agentId}/${a.provider}/${a.model}`.localeCompare(`${b.agentId}/${b.provider}/${b.model}`));
  return {
    ...(podName ? { podName } : {}),
    totalCostUSD: microsToUsd(totals.reduce((sum, agent) => sum + agent.costMicros, 0)),
    totalRequests: agents.reduce((sum, agent) => sum + agent.totalRequests, 0),
    totalTokens: agents.reduce((sum, agent) => sum + agent.totalTokensIn + agent.totalTokensOut, 0),
    unpricedRequests: totals.reduce((sum, agent) => sum + agent.unpricedRequests, 0),
    providers: cllamaProviders(input.keys.list()),
    pricingGaps,
    agents,
  };
}
