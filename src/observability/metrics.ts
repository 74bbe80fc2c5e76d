// Prometheus metrics: counters and a latency histogram fed by bus events, budget and ledger gauges read at scrape time.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Agent } from '../auth/agent.ts';
import type { PolicyResult } from '../budget/policy.ts';
import type { Ledger } from '../ledger/ledger.ts';
import { microsToUsd } from '../pricing/money.ts';
import type { EventBus, ProxyEvent } from './events.ts';
import { Tally } from './tally.ts';

export interface MetricsOptions {
  readonly bus: EventBus;
  readonly ledger: Ledger;
  readonly agents: { list(): Agent[] };
  readonly policies: { effective(agent: Agent, now: number): PolicyResult };
  /** The history writer, for its queue length (optional). */
  readonly history?: { readonly pendingEntries: number };
  readonly now?: () => number;
}

export interface Metrics {
  readonly registry: Registry;
  readonly contentType: string;
  /** Reads ledger standings and health, then renders the exposition text (concurrent calls share one rendering). */
  render(): Promise<string>;
  close(): void;
}

const LATENCY_BUCKETS_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const NO_MODEL = 'none';
/**
 * Distinct models labelled; later ones count as "other". The model is what the agent sent: an agent making up a model
 * name per call (even one the provider refuses) would otherwise add series to every counter without end.
 */
const MAX_MODEL_LABELS = 500;
const MAX_MODEL_LABEL_LENGTH = 120;
const OTHER_MODEL = 'other';

/** The label of a `provider/model`, bounded in length and in how many distinct ones exist. */
class ModelLabels {
  readonly #known = new Set<string>();

  label(model: string): string {
    const value = model.length > MAX_MODEL_LABEL_LENGTH ? `${model.slice(0, MAX_MODEL_LABEL_LENGTH)}…` : model;
    if (this.#known.has(value)) return value;
    if (this.#known.size >= MAX_MODEL_LABELS) return OTHER_MODEL;
    this.#known.add(value);
    return value;
  }
}

export function createMetrics(options: MetricsOptions): Metrics {
  const registry = new Registry();
  const now = options.now ?? Date.now;
  const registers = [registry];
  // counted on the hot path as plain numbers, copied into the counters below whenever they are read (their `collect`)
  const tallies = {
    requests: new Tally(['agent', 'model', 'status']),
    tokens: new Tally(['agent', 'model', 'kind']),
    cost: new Tally(['agent', 'model']),
    unpriced: new Tally(['agent', 'model']),
    decisions: new Tally(['agent', 'outcome']),
    interventions: new Tally(['agent', 'intervention']),
    overrides: new Tally(['action']),
  };
  new Counter({ name: 'tollgate_requests_total', help: 'Model calls answered, by agent, provider/model and HTTP status (0 = no HTTP answer).', labelNames: ['agent', 'model', 'status'], registers, collect() { tallies.requests.copyInto(this); } });
  new Counter({ name: 'tollgate_tokens_total', help: 'Tokens reported by upstream, by kind (input, output, cache_read, cache_write).', labelNames: ['agent', 'model', 'kind'], registers, collect() { tallies.tokens.copyInto(this); } });
  new Counter({ name: 'tollgate_cost_micros_total', help: 'Priced spend in micro-dollars (1 USD = 1e6).', labelNames: ['agent', 'model'], registers, collect() { tallies.cost.copyInto(this); } });
  new Counter({ name: 'tollgate_unpriced_requests_total', help: 'Calls that reported usage but have no known price.', labelNames: ['agent', 'model'], registers, collect() { tallies.unpriced.copyInto(this); } });
  const latency = new Histogram({ name: 'tollgate_upstream_latency_seconds', help: 'Time from request start to the end of the relayed upstream response.', labelNames: ['provider', 'model'], buckets: LATENCY_BUCKETS_SECONDS, registers });
  new Counter({ name: 'tollgate_budget_decisions_total', help: 'Budget admission decisions by outcome (allow, soft, block, unavailable).', labelNames: ['agent', 'outcome'], registers, collect() { tallies.decisions.copyInto(this); } });
  new Counter({ name: 'tollgate_interventions_total', help: 'Interventions by name (budget_exceeded, rate_limited, budget_check_unavailable, model_downgraded, ...).', labelNames: ['agent', 'intervention'], registers, collect() { tallies.interventions.copyInto(this); } });
  new Counter({ name: 'tollgate_override_changes_total', help: 'Governance override changes made through the admin API.', labelNames: ['action'], registers, collect() { tallies.overrides.copyInto(this); } });
  const budgetLabels = ['agent', 'limit', 'metric', 'window'] as const;
  const budgetLimit = new Gauge({ name: 'tollgate_budget_limit', help: 'Budget limit (USD for usd metrics, counts otherwise).', labelNames: budgetLabels, registers });
  const budgetUsed = new Gauge({ name: 'tollgate_budget_used', help: 'Usage in the window, settled plus reserved (USD for usd metrics).', labelNames: budgetLabels, registers });
  const budgetRemaining = new Gauge({ name: 'tollgate_budget_remaining', help: 'What is left of the limit (USD for usd metrics).', labelNames: budgetLabels, registers });
  const ledgerUp = new Gauge({ name: 'tollgate_ledger_up', help: '1 when the budget ledger answers its health check.', labelNames: ['kind'], registers });
  const historyPending = new Gauge({ name: 'tollgate_history_pending_entries', help: 'Session history entries queued but not yet written.', registers });

  const models = new ModelLabels();
  const onEvent = (event: ProxyEvent): void => {
    const agent = event.claw_id ?? '';
    switch (event.type) {
      case 'response':
      case 'error': {
        if (typeof event.path !== 'string') return; // engine-internal errors carry no request outcome
        const model = modelLabel(event, models);
        tallies.requests.add([agent, model, String(event.status_code ?? 0)]);
        countTokens(event, (kind, value) => tallies.tokens.add([agent, model, kind], value));
        if (typeof event.cost_micros === 'number') tallies.cost.add([agent, model], event.cost_micros);
        else if (event.pricing_status === 'unpriced') tallies.unpriced.add([agent, model]);
        if (typeof event.provider === 'string' && typeof event.latency_ms === 'number') {
          const upstreamModel = model === OTHER_MODEL || model === NO_MODEL ? model : model.slice(event.provider.length + 1);
          latency.observe({ provider: event.provider, model: upstreamModel }, event.latency_ms / 1000);
        }
        return;
      }
      case 'budget_decision':
        if (typeof event.outcome === 'string') tallies.decisions.add([agent, event.outcome]);
        return;
      case 'intervention':
        if (event.intervention) tallies.interventions.add([agent, event.intervention]);
        return;
      case 'override_changed':
        tallies.overrides.add([String(event.action ?? 'unknown')]);
        return;
      default:
    }
  };
  const unsubscribe = options.bus.subscribe(onEvent);

  async function refreshGauges(): Promise<void> {
    budgetLimit.reset();
    budgetUsed.reset();
    budgetRemaining.reset();
    ledgerUp.reset();
    const at = now();
    const rows: { agent: string; limit: string; metric: string; window: string }[] = [];
    const checks = [];
    for (const agent of options.agents.list()) {
      const policy = options.policies.effective(agent, at);
      if (policy.kind !== 'policy') continue;
      for (const spec of policy.limits) {
        rows.push({ agent: agent.id, limit: spec.id, metric: spec.metric === 'usd_micros' ? 'usd' : spec.metric, window: spec.window || 'none' });
        checks.push({ id: spec.id, scope: spec.scope, metric: spec.metric, windowMs: spec.windowMs, limit: spec.limit });
      }
    }
    try {
      const standings = checks.length > 0 ? await options.ledger.standing(checks) : [];
      standings.forEach((standing, index) => {
        const labels = rows[index];
        const unit = labels.metric === 'usd' ? microsToUsd : (value: number) => value;
        budgetLimit.set(labels, unit(standing.limit));
        budgetUsed.set(labels, unit(standing.used + standing.reserved));
        budgetRemaining.set(labels, unit(standing.remaining));
      });
    } catch {
      // the ledger is down: ledger_up says so below and the budget gauges are left out
    }
    const health = await options.ledger.health().catch(() => ({ ok: false, kind: 'unknown' }));
    ledgerUp.set({ kind: health.kind }, health.ok ? 1 : 0);
    if (options.history) historyPending.set(options.history.pendingEntries);
  }

  // One scrape at a time: the gauges are reset, read from the ledger (awaited) and set again, so a scrape that
  // started meanwhile (two Prometheus servers, a curl) would reset them under the first one and render them missing.
  // A scrape arriving while one runs gets that one's text.
  let rendering: Promise<string> | null = null;
  const renderOnce = async (): Promise<string> => {
    try {
      await refreshGauges();
      return await registry.metrics();
    } finally {
      rendering = null;
    }
  };

  return {
    registry,
    contentType: registry.contentType,
    render() {
      return (rendering ??= renderOnce());
    },
    close() {
      unsubscribe();
    },
  };
}

function modelLabel(event: ProxyEvent, models: ModelLabels): string {
  return typeof event.provider === 'string' && typeof event.upstream_model === 'string' ? models.label(`${event.provider}/${event.upstream_model}`) : NO_MODEL;
}

function countTokens(event: ProxyEvent, add: (kind: string, value: number) => void): void {
  countKind(event.tokens_in, 'input', add);
  countKind(event.tokens_out, 'output', add);
  countKind(event.cached_tokens, 'cache_read', add);
  countKind(event.cache_write_tokens, 'cache_write', add);
}

function countKind(value: unknown, kind: string, add: (kind: string, value: number) => void): void {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) add(kind, value);
}
