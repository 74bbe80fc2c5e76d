// The admin API under /api/: agents with budget standing, one agent's detail, overrides, history pages, shared budgets, summary, live feed.
import { loopSettings } from '../budget/loop-guard.ts';
import type { LoopState, LoopView } from '../budget/loop-verdict.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isPlainAgentId, type Agent } from '../auth/agent.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { AgentDirectory } from '../auth/agent.ts';
import type { EventBus } from '../observability/events.ts';
import { microsToUsd } from '../pricing/money.ts';
import type { CostTotals } from './cost-totals.ts';
import type { EventFeed } from './event-feed.ts';
import { ADMIN_HISTORY_DEFAULT_LIMIT, ADMIN_HISTORY_MAX_LIMIT, callSummary, historyPage } from './history-view.ts';
import { readNewestHistory } from './history-tail.ts';
import { AdminError, queryLimit, queryTime, readJsonBody } from './http.ts';
import { sendJson } from '../http/respond.ts';
import { clearInput, clearOverride, readOverrideFile, setOverride, type OverrideStore } from './override.ts';
import { agentState, readAgentStandings, readSharedStandings, type PolicyReader } from './standings.ts';
import { circuitRows, modelPolicyView, type RoutingSources } from './routing-view.ts';
import type { AccessKind } from './ui-auth.ts';
import { agentRow, limitRow, policyDetail, policyStatus, totalsRow } from './views.ts';

export interface AdminApiDeps {
  readonly agents: AgentDirectory;
  readonly policies: PolicyReader & OverrideStore;
  readonly ledger: Ledger;
  readonly bus: EventBus;
  readonly costs: CostTotals;
  readonly feed: EventFeed;
  readonly historyDir: string | null;
  readonly pod: string;
  /** The UiAuth: whether a token is set, and the session cookie that stands for it. */
  readonly auth: { readonly tokenConfigured: boolean; sessionCookie(): string };
  readonly now: () => number;
  /** The loop breaker's state per agent, in memory or shared on Redis (absent: none shown). */
  readonly loops?: Pick<LoopState, 'view'>;
  /** Model policies and circuits (absent in tests that build the admin API alone). */
  readonly routing?: RoutingSources;
}

/** A matched admin route: what access it needs and how to answer it. */
export interface AdminRoute {
  readonly access: AccessKind;
  run(): Promise<void>;
}

const RECENT_CALLS = 20;
const MAX_BODY_BYTES = 64 * 1024;

/** Matches method and path under /api/; null = no such route. A known path with another method is a 405 route. */
export function matchAdminRoute(input: { deps: AdminApiDeps; req: IncomingMessage; res: ServerResponse; url: URL }): AdminRoute | null {
  const { deps, req, res, url } = input;
  const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
  const parts = url.pathname.split('/').filter(Boolean).map(safeDecode); // ['api', ...]
  const read = (run: () => Promise<void>): AdminRoute => ({ access: 'read', run });
  const allow = (methods: string, routes: Record<string, AdminRoute>): AdminRoute =>
    routes[method] ??
    read(async () => {
      throw new AdminError('method_not_allowed', `${req.method} not allowed on ${url.pathname}`, { headers: { allow: methods } });
    });

  if (parts.length === 2 && parts[1] === 'agents') return allow('GET', { GET: read(() => listAgents(deps, res)) });
  if (parts.length === 2 && parts[1] === 'shared') return allow('GET', { GET: read(() => listShared(deps, res)) });
  if (parts.length === 2 && parts[1] === 'summary') return allow('GET', { GET: read(() => summary(deps, res)) });
  // The page trades the token it holds (bearer header) for the session cookie, so its live feed needs no ?token=.
  if (parts.length === 2 && parts[1] === 'session') return allow('POST', { POST: { access: 'read', run: async () => openSession(deps, req, res) } });
  if (parts.length === 2 && parts[1] === 'events') {
    return allow('GET', {
      GET: {
        access: 'feed',
        run: async () => {
          checkReplay(url.searchParams);
          deps.feed.open(req, res, url.searchParams);
        },
      },
    });
  }
  if (parts.length >= 3 && parts[1] === 'agents') {
    const id = parts[2];
    if (parts.length === 3) return allow('GET', { GET: read(() => agentDetail(deps, res, id)) });
    if (parts.length === 4 && parts[3] === 'history') return allow('GET', { GET: read(() => agentHistory(deps, res, id, url.searchParams)) });
    if (parts.length === 4 && parts[3] === 'override') {
      return allow('PUT, DELETE', {
        PUT: { access: 'write', run: () => putOverride(deps, req, res, id) },
        DELETE: { access: 'write', run: () => deleteOverride(deps, req, res, id, url.searchParams) },
      });
    }
  }
  return null;
}

async function listAgents(deps: AdminApiDeps, res: ServerResponse): Promise<void> {
  const now = deps.now();
  const standings = await readAgentStandings({ agents: deps.agents.list(), policies: deps.policies, ledger: deps.ledger, now });
  sendJson(res, 200, {
    generated_at: new Date(now).toISOString(),
    agents: standings.map((standing) => agentRow({ standing, totals: deps.costs.agent(standing.agent.id), now })),
  });
}

async function agentDetail(deps: AdminApiDeps, res: ServerResponse, id: string): Promise<void> {
  const agent = requireAgent(deps, id);
  const now = deps.now();
  const [standing] = await readAgentStandings({ agents: [agent], policies: deps.policies, ledger: deps.ledger, now });
  const recent = deps.historyDir ? await readNewestHistory({ dir: deps.historyDir, agentId: agent.id, before: null, limit: RECENT_CALLS }) : [];
  sendJson(res, 200, {
    agent: agentRow({ standing, totals: deps.costs.agent(agent.id), now }),
    policy: policyDetail(standing.policy),
    override: await readOverrideFile(deps.policies, agent.id),
    recent: { calls: recent.map(callSummary) },
    loop: await loopOf(deps, agent.id, standing.policy),
    model_policy: modelPolicyView(deps.routing, agent),
  });
}

/** The agent's loop episode; null when none, and when the shared state cannot be read (the page still shows the rest). */
async function loopOf(deps: AdminApiDeps, agentId: string, policy: Parameters<typeof loopSettings>[0]): Promise<LoopView | null> {
  if (!deps.loops) return null;
  try {
    return await deps.loops.view(agentId, loopSettings(policy));
  } catch {
    return null;
  }
}

async function agentHistory(deps: AdminApiDeps, res: ServerResponse, id: string, params: URLSearchParams): Promise<void> {
  const agent = requireAgent(deps, id);
  if (!deps.historyDir) throw new AdminError('not_found', 'history not configured');
  const after = queryTime(params, 'after');
  const before = queryTime(params, 'before');
  if (after && before) throw new AdminError('invalid_request', 'use either after (page forward) or before (page back), not both');
  const limit = queryLimit(params, { fallback: ADMIN_HISTORY_DEFAULT_LIMIT, max: ADMIN_HISTORY_MAX_LIMIT });
  const full = params.get('full') === '1' || params.get('full') === 'true';
  sendJson(res, 200, await historyPage({ dir: deps.historyDir, agentId: agent.id, after, before, limit, full }));
}

async function putOverride(deps: AdminApiDeps, req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
  const agent = requireAgent(deps, id);
  const body = await readJsonBody(req, MAX_BODY_BYTES);
  const { file, content } = await setOverride({ store: deps.policies, bus: deps.bus, now: deps.now }, { agent, body });
  const now = deps.now();
  const [standing] = await readAgentStandings({ agents: [agent], policies: deps.policies, ledger: deps.ledger, now });
  sendJson(res, 200, {
    agent: agent.id,
    file,
    override: content,
    policy: policyStatus(standing.policy),
    limits: standing.limits.map((limit) => limitRow(limit, now)),
  });
}

async function deleteOverride(deps: AdminApiDeps, req: IncomingMessage, res: ServerResponse, id: string, params: URLSearchParams): Promise<void> {
  const agent = requireAgent(deps, id);
  const { reason, setBy } = clearInput(await readJsonBody(req, MAX_BODY_BYTES), params);
  const { file, cleared } = await clearOverride({ store: deps.policies, bus: deps.bus, now: deps.now }, { agent, reason, setBy });
  sendJson(res, 200, { agent: agent.id, cleared, file });
}

/** 204 with the session cookie (no cookie when no token is configured: nothing needs one). Reached only when authorised. */
function openSession(deps: AdminApiDeps, req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  const headers: Record<string, string> = { 'cache-control': 'no-store' };
  if (deps.auth.tokenConfigured) headers['set-cookie'] = deps.auth.sessionCookie();
  res.writeHead(204, headers);
  res.end();
}

async function listShared(deps: AdminApiDeps, res: ServerResponse): Promise<void> {
  const now = deps.now();
  const shared = await readSharedStandings({ agents: deps.agents.list(), policies: deps.policies, ledger: deps.ledger, now });
  sendJson(res, 200, {
    shared: shared.map((item) => ({
      name: item.info.name,
      file: item.info.file,
      problems: item.info.problems,
      members: item.members,
      limits: item.limits.map((limit) => limitRow(limit, now)),
    })),
  });
}

async function summary(deps: AdminApiDeps, res: ServerResponse): Promise<void> {
  const now = deps.now();
  const agents = deps.agents.list();
  const standings = await readAgentStandings({ agents, policies: deps.policies, ledger: deps.ledger, now });
  const byState = { ok: 0, near_limit: 0, exhausted: 0, unavailable: 0, unlimited: 0 };
  for (const standing of standings) byState[agentState(standing)] += 1;
  const day = await lastDay(deps, agents);
  const totals = deps.costs.agents().reduce(
    (sum, agent) => ({
      costMicros: sum.costMicros + agent.costMicros,
      requests: sum.requests + agent.requests,
      pricedRequests: sum.pricedRequests + agent.pricedRequests,
      unpricedRequests: sum.unpricedRequests + agent.unpricedRequests,
      inputTokens: sum.inputTokens + agent.inputTokens,
      outputTokens: sum.outputTokens + agent.outputTokens,
    }),
    deps.costs.retired(), // agents removed from the registry: in the totals, no longer listed
  );
  const health = await deps.ledger.health().catch((error: Error) => ({ ok: false, kind: 'unknown', detail: error.message }));
  sendJson(res, 200, {
    generated_at: new Date(now).toISOString(),
    pod: deps.pod || sharedPod(agents),
    agents: agents.length,
    agents_by_state: byState,
    totals: totalsRow({ agent: '*', models: [], ...totals }),
    last_24h: day,
    costs_ready: deps.costs.ready,
    ledger: health,
    auth: { token_configured: deps.auth.tokenConfigured, writes_enabled: deps.auth.tokenConfigured },
    circuits: circuitRows(deps.routing),
  });
}

/** With no CLAW_POD, the pod every agent is in; '' when they are in several (one of them is not "the" pod). */
function sharedPod(agents: readonly Agent[]): string {
  const pods = new Set(agents.map((agent) => agent.pod));
  return pods.size === 1 ? [...pods][0] : '';
}

/** Each agent's own scope over the last 24 hours, summed. */
async function lastDay(deps: AdminApiDeps, agents: readonly Agent[]): Promise<Record<string, number>> {
  const metrics = ['usd_micros', 'requests', 'input_tokens', 'output_tokens', 'unknown_cost_requests'] as const;
  const checks = agents.flatMap((agent) =>
    metrics.map((metric) => ({
      id: `summary:${agent.id}/${metric}`,
      scope: `agent:${agent.id}`,
      metric,
      windowMs: 24 * 3_600_000,
      limit: Number.MAX_SAFE_INTEGER,
    })),
  );
  const standings = checks.length > 0 ? await deps.ledger.standing(checks) : [];
  const sums: Record<string, number> = Object.fromEntries(metrics.map((metric) => [metric, 0]));
  standings.forEach((standing) => {
    sums[standing.metric] += standing.used;
  });
  return {
    spend_usd: microsToUsd(sums.usd_micros),
    spend_micros: sums.usd_micros,
    requests: sums.requests,
    input_tokens: sums.input_tokens,
    output_tokens: sums.output_tokens,
    unknown_cost_requests: sums.unknown_cost_requests,
  };
}

/** `replay` of the live feed: absent, or a whole number of events >= 0 (junk is refused, not read as "none"). */
function checkReplay(params: URLSearchParams): void {
  const raw = params.get('replay');
  if (raw !== null && raw !== '' && !/^\d+$/.test(raw.trim())) throw new AdminError('invalid_request', 'replay must be a whole number of events (0 for none)');
}

function requireAgent(deps: AdminApiDeps, id: string): Agent {
  const agent = isPlainAgentId(id) ? deps.agents.get(id) : undefined;
  if (!agent) throw new AdminError('not_found', `no agent named ${JSON.stringify(id.slice(0, 128))}`);
  return agent;
}

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
