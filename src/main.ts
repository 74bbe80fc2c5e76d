// Composition root: build every part from the config once, replay the ledger, serve both ports, shut down gracefully.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Agent } from './auth/agent.ts';
import { AgentRegistry } from './auth/registry.ts';
import { PolicyStore } from './budget/policy/store.ts';
import { policyGroups } from './budget/policy-groups.ts';
import { ModelPolicyStore } from './budget/policy/model-policy-store.ts';
import { Circuits } from './pipeline/circuits.ts';
import { createBudgetEngine } from './budget/engine.ts';
import { LoopBreaker } from './budget/loop-breaker.ts';
import { SharedLoopState } from './budget/loop-shared.ts';
import { SettleBacklog } from './budget/settle-backlog.ts';
import { historyScopes } from './budget/history-scopes.ts';
import { attachAlertWebhook } from './budget/alert-webhook.ts';
import type { Config } from './config/config.ts';
import { HistoryWriter } from './history/writer.ts';
import { scanHistory } from './history/reader.ts';
import { scanHistorySince } from './history/recent-scan.ts';
import { join } from 'node:path';
import { KeyPools } from './keys/key-pools.ts';
import { poolFamilies } from './keys/pool-view.ts';
import { createLedger, createSharedState, type LedgerLoadProgress, type LedgerLoadReport } from './ledger/create.ts';
import type { Ledger } from './ledger/ledger.ts';
import { attachAuditLog } from './observability/audit-log.ts';
import { EventBus } from './observability/events.ts';
import { LogSecrets } from './observability/log-secrets.ts';
import { createPriceBook } from './pricing/price-book.ts';
import { loadOperatorPrices } from './pricing/operator-prices.ts';
import type { PipelineDeps } from './pipeline/deps.ts';
import { createApiServer } from './api/server.ts';
import { historyRoutes } from './api/history-routes.ts';
import { agentRoutes } from './api/agent-routes.ts';
import { ModelCatalog, modelPolicyAllowList } from './api/model-catalog.ts';
import { createUiServer } from './admin/server.ts';
import { CostTotals } from './admin/cost-totals.ts';
import { createMetrics } from './observability/metrics.ts';
import { ledgerParts, stateFamilies } from './observability/state-sizes.ts';
import { LoopLag } from './observability/loop-lag.ts';
import { UpstreamClient } from './upstream/client.ts';
import { ProviderRegistry } from './upstream/registry.ts';
import { routableOn } from './upstream/routing.ts';
import { InFlightCalls } from './pipeline/in-flight.ts';
import { BytesInFlight } from './transport/bytes-in-flight.ts';

export interface Tollgate {
  readonly apiUrl: string;
  readonly uiUrl: string;
  readonly deps: PipelineDeps;
  readonly ledger: Ledger;
  readonly policies: PolicyStore;
  close(): Promise<void>;
}

export interface StartOptions {
  readonly config: Config;
  /** Where audit lines go (default stdout). */
  readonly auditDestination?: NodeJS.WritableStream;
  /** Operational messages (start-up notices, warnings). */
  readonly log?: (message: string) => void;
  readonly onReplayProgress?: (progress: LedgerLoadProgress) => void;
  /** The clock of budgets and the embedded ledger (tests move it; default Date.now). */
  readonly now?: () => number;
}

export async function startTollgate(options: StartOptions): Promise<Tollgate> {
  const { config } = options;
  // provider keys, the UI token and agent secrets are masked in every log line, audit line and live-feed frame
  const secrets = new LogSecrets([...config.providers.flatMap((provider) => provider.keys.map((key) => key.secret)), config.uiToken]);
  const write = options.log ?? ((message: string) => process.stderr.write(`tollgate: ${message}\n`));
  const log = (message: string) => write(secrets.mask(message));
  for (const notice of config.notices) log(notice);

  const bus = new EventBus();
  const audit = attachAuditLog({ bus, destination: options.auditDestination, secrets });
  const agents = new AgentRegistry({ contextRoot: config.contextRoot, onWarning: log, onChange: () => secrets.setAgentSecrets(agentSecrets(agents.list())) });
  await agents.start();
  secrets.setAgentSecrets(agentSecrets(agents.list()));
  const policies = new PolicyStore({
    governanceDir: config.governanceDir,
    onWarning: log,
    onError: (file, message) => {
      log(`budget policy ${file}: ${message}`);
      bus.emit({ type: 'policy_error', claw_id: null, model: null, intervention: null, file, error: message });
    },
  });
  await policies.start();
  const pricer = createPriceBook({ operatorPrices: config.pricesFile ? loadOperatorPrices(config.pricesFile) : null });
  let reconciliation: LedgerLoadReport['reconciliation'];
  const budgetGroups = policyGroups({ agents, policies, now: Date.now });
  const ledger = await createLedger({
    config,
    scanHistory,
    scanRecentHistory: scanHistorySince,
    scopesFor: historyScopes({ agents, policies, now: Date.now }),
    budgetGroups,
    now: options.now,
    onProgress: options.onReplayProgress,
    onLoaded: (report) => {
      log(`ledger loaded from ${report.source}: ${report.records} records`);
      reconciliation = report.reconciliation;
      if (reconciliation) log(reconciliationLine(reconciliation));
    },
    onCompacted: (result) => {
      if (result.rewritten) log(`ledger journal compacted after start-up: ${result.kept} records kept, ${result.dropped} lines dropped (${result.ms} ms)`);
    },
    onWarning: log,
    onStateChange: (change) => {
      log(`shared ledger ${change.state}${change.detail ? `: ${change.detail}` : ''}`);
      if (change.state === 'down')
        bus.emit({ type: 'warning', claw_id: null, model: null, intervention: null, error: `shared ledger unavailable: ${change.detail ?? 'unknown'}` });
    },
  });
  // key health and circuits shared by replicas (Redis with TOLLGATE_LEDGER=redis); its connection state is the ledger's
  const shared = await createSharedState({ config });
  const providers = new ProviderRegistry(config.providers);
  const backlog = new SettleBacklog({ ledger, report: log });
  // the loop breaker counts an agent's calls on every replica where the state is shared (Redis), else in this process
  const script = shared.script?.bind(shared);
  const loops = script
    ? new SharedLoopState({
        script,
        now: options.now,
        onError: (error) => log(`loop breaker: shared state: ${error.message}; judging this replica's calls alone`),
        // on a Cluster an agent's loop state lives in its budget group's slot, beside its ledger keys
        groupOf: config.ledger.kind === 'redis' && config.ledger.cluster ? (agentId) => budgetGroups().groupOfEntity(`agent:${agentId}`) : undefined,
      })
    : new LoopBreaker({ now: options.now });
  const budget = createBudgetEngine({
    ledger,
    pricer,
    policies,
    bus,
    failMode: config.budgetFailMode,
    defaultMaxOutputTokens: config.defaultMaxOutputTokens,
    routable: routableOn(providers),
    backlog,
    loops,
    now: options.now,
  });
  const detachWebhook = config.alertWebhookUrl ? attachAlertWebhook({ bus, url: config.alertWebhookUrl }) : () => undefined;
  const history = new HistoryWriter({
    dir: config.historyDir,
    maxBytes: config.historyMaxBytes,
    maxOpenFiles: config.historyMaxOpenFiles,
    onError: (error, agentId) => log(`history write for ${agentId} failed: ${(error as Error).message}`),
  });
  const upstream = new UpstreamClient({
    connectTimeoutMs: config.timeouts.connectMs,
    connections: config.upstreamConnections,
    idleMs: config.timeouts.upstreamIdleMs,
  });
  const inFlight = new InFlightCalls();
  const bytesInFlight = new BytesInFlight({ maxBytes: config.intake.maxBytesInFlight, maxAgentBytes: config.intake.maxAgentBytesInFlight });
  const modelPolicies = new ModelPolicyStore({ governanceDir: config.governanceDir, onError: (file, message) => log(`model policy ${file}: ${message}`) });
  await modelPolicies.start();
  const circuits = new Circuits(shared, {
    ...config.circuits,
    onChange: (event) => bus.emit(event),
    onError: (error) => log(`circuits: shared state: ${error.message}`),
  });
  const keys = new KeyPools({
    providers: config.providers,
    registry: providers,
    bus,
    shared,
    file: join(config.authDir, 'providers.json'),
    recheckMs: config.keyRecheckMs,
    onSecret: (secret) => secrets.addProviderSecret(secret),
  });
  await keys.start();
  const deps: PipelineDeps = {
    config,
    agents,
    providers,
    upstream,
    budget,
    pricer,
    history,
    bus,
    inFlight,
    bytesInFlight,
    shared,
    keys,
    modelPolicies,
    circuits,
  };

  const costs = new CostTotals({ bus, historyDir: config.historyDir, scanHistory, onError: log, isAgent: (id) => agents.get(id) !== undefined });
  void costs.start();
  const api = createApiServer({
    deps,
    extraRoutes: [
      historyRoutes({ agents, historyDir: config.historyDir, uiToken: config.uiToken }),
      agentRoutes({
        deps,
        catalog: new ModelCatalog({
          providers,
          upstream,
          keys,
          timeoutMs: Math.min(10_000, config.timeouts.dispatchMs),
          allowList: modelPolicyAllowList(modelPolicies),
        }),
      }),
    ],
    health: async () => {
      const health = await ledger.health().catch((error: Error) => ({ ok: false, kind: config.ledger.kind, detail: error.message }));
      // with fail mode closed a ledger outage refuses every call, so the replica is unhealthy; open mode keeps serving
      const body: Record<string, unknown> = { ok: health.ok || config.budgetFailMode === 'open', ledger: health, bytes_in_flight: bytesInFlight.total };
      if (reconciliation) body.reconciliation = reconciliation; // what start-up found (docs/budgets.md)
      return body;
    },
  });
  await listen(api, config.listen);
  const apiUrl = urlOf(api);
  log(`API listening on ${apiUrl} (${agents.list().length} agents, ${config.providers.length} providers, ledger ${config.ledger.kind})`);

  const loopLag = new LoopLag();
  // what a soak reads to show nothing grows per call (bench/soak.ts)
  const state = stateFamilies({
    history_agents: () => history.agentsHeld,
    history_open_files: () => history.openFiles,
    history_pending: () => history.pendingEntries,
    in_flight_calls: () => inFlight.count,
    bytes_in_flight: () => bytesInFlight.total,
    ...ledgerParts(ledger),
    ...(loops instanceof LoopBreaker ? { loop_breaker_agents: () => loops.agentsHeld } : {}), // on Redis it lives there
  });
  const metrics = createMetrics({ bus, ledger, agents, policies, history, inFlight, loopLag, extraFamilies: () => [...poolFamilies(keys.list()), ...state] });
  const ui = createUiServer({
    config,
    agents,
    policies,
    ledger,
    bus,
    historyDir: config.historyDir,
    costs,
    metrics,
    secrets,
    loops,
    keys,
    routing: { modelPolicies, circuits },
  });
  await listen(ui, config.ui);
  const uiUrl = urlOf(ui);
  log(`operator UI on ${uiUrl}`);

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      await Promise.all([stopServer(api, config.timeouts.shutdownGraceMs), stopServer(ui, config.timeouts.shutdownGraceMs)]);
      // the connections are closed; each call still settles, records and emits before the ledger and history close
      if (!(await inFlight.idle(SETTLE_AT_SHUTDOWN_MS)))
        log(`shutdown: ${inFlight.count} calls had not settled after ${SETTLE_AT_SHUTDOWN_MS} ms; closing anyway`);
      costs.stop();
      metrics.close();
      loopLag.stop();
      await upstream.close();
      await history.close();
      await backlog.close(); // settlements kept while Redis was unreachable: one last attempt before the ledger closes
      await keys.close();
      await ledger.close();
      circuits.close();
      modelPolicies.stop();
      await shared.close();
      detachWebhook();
      agents.stop();
      policies.stop();
      await audit.flush();
      audit.detach();
    })());
  return { apiUrl, uiUrl, deps, ledger, policies, close };
}

/**
 * `:8080` and `0.0.0.0:8080` listen on every interface, IPv6 included, as Go's net.Listen does for an empty or
 * unspecified host (Node's default: `::` dual-stack, or IPv4 alone where the machine has no IPv6).
 */
function listen(server: Server, address: { host: string; port: number }): Promise<void> {
  const host = address.host === '0.0.0.0' || address.host === '::' ? undefined : address.host;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function reconciliationLine(report: NonNullable<LedgerLoadReport['reconciliation']>): string {
  if (report.status === 'no_watermark') return 'ledger reconciliation with history skipped: the journal has no watermark yet (written by an older version)';
  return (
    `ledger reconciled with history since ${report.watermark}: ${report.checked} calls checked, ${report.journaled} in the journal, ` +
    `${report.charged} charged now (${report.charged_micros} µ$), ${report.duplicates} duplicates, ${report.skipped_lines} torn or bad lines skipped (${report.ms} ms)`
  );
}

function urlOf(server: Server): string {
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
}

/** Stops accepting, lets in-flight calls finish (their settlements and history land), then drops idle keep-alives. */
/** How long shutdown waits, after closing the connections, for calls to settle (a ledger that hangs cannot hold it). */
const SETTLE_AT_SHUTDOWN_MS = 5_000;

function stopServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    const force = setTimeout(() => server.closeAllConnections(), graceMs);
    force.unref();
  });
}

/** What an agent authenticates with: its secret and its history tokens. */
function agentSecrets(agents: readonly Agent[]): string[] {
  return agents.flatMap((agent) => [agent.secret, ...agent.historyTokens]);
}
