// The UI port: admin API, cllama's /costs/api, Prometheus /metrics and the dashboard, behind CLLAMA_UI_TOKEN.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Config } from '../config/config.ts';
import { dashboardRoute, isDashboardAsset } from '../dashboard/routes.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { EventBus } from '../observability/events.ts';
import type { AgentDirectory } from '../auth/agent.ts';
import { matchAdminRoute, type AdminApiDeps } from './api-routes.ts';
import type { CostTotals } from './cost-totals.ts';
import { renderCostsApi } from './costs-api.ts';
import { answerUiClientError } from './client-error.ts';
import { EventFeed } from './event-feed.ts';
import { AdminError, isApiPath, requestUrl, sendAdminError } from './http.ts';
import { sendText } from '../http/respond.ts';
import type { OverrideStore } from './override.ts';
import type { PolicyReader } from './standings.ts';
import type { LogSecrets } from '../observability/log-secrets.ts';
import { bearerToken } from '../auth/token.ts';
import type { RoutingSources } from './routing-view.ts';
import { UiAuth, type AccessKind } from './ui-auth.ts';
import { UiExposure } from './ui-exposure.ts';
import type { KeyPools } from '../keys/key-pools.ts';
import { crossSite, KEY_FORM_PATHS, matchKeyApiRoute, runKeyForm, serveCllamaEvents } from './key-routes.ts';

export interface UiServerOptions {
  /** `ui`, `uiOpen` and `uiHosts` absent: loopback callers only while no token is set, Host names as UiExposure says. */
  readonly config: Pick<Config, 'uiToken' | 'pod'> & Partial<Pick<Config, 'ui' | 'uiOpen' | 'uiHosts'>>;
  readonly agents: AgentDirectory;
  /** The PolicyStore. */
  readonly policies: PolicyReader & OverrideStore;
  readonly ledger: Ledger;
  readonly bus: EventBus;
  /** Session history root, or null when history is off. */
  readonly historyDir: string | null;
  readonly costs: CostTotals;
  readonly metrics: Metrics;
  /** The provider key pools: cllama's key routes and /events, and /api/providers (absent: none of them). */
  readonly keys?: KeyPools;
  /** Replay buffer of the live feed (default 500 events). */
  readonly feedBufferSize?: number;
  /** Known secrets masked in the live feed's frames. */
  readonly secrets?: LogSecrets;
  readonly now?: () => number;
  /** The loop breaker, whose state the agent page shows. */
  readonly loops?: AdminApiDeps['loops'];
  /** Model policies and circuits, for the agent page and the summary. */
  readonly routing?: RoutingSources;
}

/**
 * Builds the UI server (not listening yet). Its `close()` also ends the live-feed streams, so a graceful shutdown is
 * not held up by open dashboards.
 */
export function createUiServer(options: UiServerOptions): Server {
  const auth = new UiAuth(options.config.uiToken);
  const exposure = new UiExposure({
    tokenConfigured: auth.tokenConfigured,
    open: options.config.uiOpen ?? false,
    listenHost: options.config.ui?.host ?? '',
    extraHosts: options.config.uiHosts ?? [],
  });
  const feed = new EventFeed({ bus: options.bus, bufferSize: options.feedBufferSize, secrets: options.secrets });
  const deps: AdminApiDeps = {
    agents: options.agents,
    policies: options.policies,
    ledger: options.ledger,
    bus: options.bus,
    costs: options.costs,
    feed,
    historyDir: options.historyDir,
    pod: options.config.pod,
    auth,
    now: options.now ?? Date.now,
    loops: options.loops,
    routing: options.routing,
  };

  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    const refusal = exposure.refusal(req);
    if (refusal !== null) {
      req.resume();
      fail(res, new AdminError('forbidden', refusal), isApiPath(req.url ?? ''));
      return;
    }
    const url = requestUrl(req.url);
    if (!url) {
      req.resume();
      fail(res, new AdminError('invalid_request', 'malformed request target'), isApiPath(req.url ?? ''));
      return;
    }
    void route(req, res, url).catch((error: unknown) => fail(res, error, isApiPath(url.pathname)));
  });
  server.on('clientError', answerUiClientError);

  async function route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    if (isApiPath(path)) {
      const keyRoute = options.keys ? matchKeyApiRoute({ keys: options.keys, req, res, parts: path.split('/').filter(Boolean).map(decodePart) }) : null;
      const matched = keyRoute ?? matchAdminRoute({ deps, req, res, url });
      const access = matched?.access ?? 'read';
      const decision = auth.decide(req, { kind: access, queryToken: access === 'feed' ? url.searchParams.get('token') : null });
      if (!decision.ok) {
        req.resume();
        throw new AdminError(decision.code, decision.message, decision.code === 'unauthorized' ? { headers: { 'www-authenticate': 'Bearer' } } : {});
      }
      if (!matched) throw new AdminError('not_found', `no route for ${req.method} ${path}`);
      await matched.run();
      return;
    }
    if (options.keys && KEY_FORM_PATHS.has(path)) {
      await keyForm(req, res, url, options.keys);
      return;
    }
    if (!isRead(req)) {
      req.resume();
      sendText(res, 405, 'method not allowed', { allow: 'GET, HEAD' });
      return;
    }
    if (auth.tokenConfigured && url.searchParams.has('token') && path !== '/costs/api' && path !== '/metrics') {
      signIn(res, url);
      return;
    }
    // The page shell and its assets hold no data (every number comes from /api/ with the token): served before
    // authorising, so the page can take its token from #token= or a prompt. A wrong bearer is still refused (cllama).
    if (isDashboardAsset(path) && !presentsWrongBearer(req) && (await dashboardRoute(req, res, path))) return;
    if (!allowedText(req, res, 'read')) return;
    if (path === '/costs/api') {
      sendBody(req, res, {
        status: 200,
        contentType: 'application/json; charset=utf-8',
        body: renderCostsApi(options.costs.agents(), options.costs.retired()),
      });
      return;
    }
    if (path === '/events' && options.keys) {
      streams.add(res);
      res.once('close', () => streams.delete(res));
      serveCllamaEvents({ req, res, keys: options.keys, costs: options.costs, agents: options.agents });
      return;
    }
    if (path === '/metrics') {
      await sendPieces(req, res, { contentType: options.metrics.contentType, pieces: await options.metrics.renderPieces() });
      return;
    }
    if (await dashboardRoute(req, res, path)) return;
    sendText(res, 404, '404 page not found');
  }

  /** cllama's key form posts: POST only (else its 404), never from another site, and only with the UI token. */
  async function keyForm(req: IncomingMessage, res: ServerResponse, url: URL, keys: KeyPools): Promise<void> {
    if (req.method !== 'POST') {
      req.resume();
      sendText(res, 404, '404 page not found');
      return;
    }
    if (crossSite(req)) {
      req.resume();
      sendText(res, 403, 'cross-site form posts are refused');
      return;
    }
    if (!allowedText(req, res, 'write')) {
      req.resume();
      return;
    }
    await runKeyForm({ req, res, path: url.pathname, url, keys });
  }

  /** `GET /any-page?token=<t>`: set the session cookie and send the browser to the same page without the token. */
  function signIn(res: ServerResponse, url: URL): void {
    if (!auth.isToken(url.searchParams.get('token') ?? '')) {
      sendText(res, 401, 'unauthorized', { 'www-authenticate': 'Bearer' });
      return;
    }
    url.searchParams.delete('token');
    // one leading slash: `//host/...` as a Location would send the browser to another site
    const location = `/${url.pathname.replace(/^[/\\]+/, '')}${url.search}`;
    res.writeHead(303, { location, 'set-cookie': auth.sessionCookie(), 'cache-control': 'no-store', 'content-length': 0 });
    res.end();
  }

  function presentsWrongBearer(req: IncomingMessage): boolean {
    const bearer = bearerToken(req.headers.authorization);
    return auth.tokenConfigured && bearer !== null && !auth.isToken(bearer);
  }

  /** Plain-text refusals as cllama's UI answers them (`unauthorized\n`). */
  function allowedText(req: IncomingMessage, res: ServerResponse, kind: AccessKind): boolean {
    const decision = auth.decide(req, { kind });
    if (decision.ok) return true;
    sendText(
      res,
      decision.code === 'unauthorized' ? 401 : 403,
      decision.code === 'unauthorized' ? 'unauthorized' : decision.message,
      decision.code === 'unauthorized' ? { 'www-authenticate': 'Bearer' } : {},
    );
    return false;
  }

  const streams = new Set<ServerResponse>(); // cllama /events streams, ended on close
  const close = server.close.bind(server);
  server.close = ((callback?: (error?: Error) => void) => {
    feed.close();
    for (const stream of streams) stream.destroy();
    return close(callback);
  }) as Server['close'];
  return server;
}

function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

function isRead(req: IncomingMessage): boolean {
  return req.method === 'GET' || req.method === 'HEAD';
}

function sendBody(req: IncomingMessage, res: ServerResponse, input: { status: number; contentType: string; body: string }): void {
  res.writeHead(input.status, { 'content-type': input.contentType, 'content-length': Buffer.byteLength(input.body), 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : input.body);
}

/** A 200 whose large body (/metrics) is encoded and written piece by piece, yielding to the event loop in between. */
async function sendPieces(req: IncomingMessage, res: ServerResponse, input: { contentType: string; pieces: readonly string[] }): Promise<void> {
  let length = 0;
  for (const piece of input.pieces) {
    length += Buffer.byteLength(piece);
    await nextTurn();
  }
  res.writeHead(200, { 'content-type': input.contentType, 'content-length': length, 'cache-control': 'no-store' });
  if (req.method !== 'HEAD') {
    for (const piece of input.pieces) {
      if (res.destroyed) return;
      res.write(piece);
      await nextTurn();
    }
  }
  res.end();
}

function fail(res: ServerResponse, error: unknown, json: boolean): void {
  if (res.writableEnded) return; // answered already (e.g. the connection's own error, see client-error.ts)
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const adminError = error instanceof AdminError ? error : new AdminError('internal', `internal error: ${(error as Error)?.message ?? String(error)}`);
  if (json) sendAdminError(res, adminError);
  else sendText(res, adminError.status, adminError.message);
}
