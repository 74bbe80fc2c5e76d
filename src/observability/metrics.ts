// Prometheus metrics: counters and a latency histogram fed by bus events, budget and ledger gauges read at scrape time.
import { Gauge, Histogram, Registry } from 'prom-client';
import type { Agent } from '../auth/agent.ts';
import type { PolicyResult } from '../budget/policy/policy.ts';
import type { Ledger } from '../ledger/ledger.ts';
import { budgetFamilies, readBudgetRows, type BudgetRow } from './budget-gauges.ts';
import { DepartedAgents } from './departed-agents.ts';
import { ModelLabels, NO_MODEL, OTHER_MODEL } from './model-labels.ts';
import type { EventBus, EventOf, ProxyEvent } from './events.ts';
import { ExpositionWriter, type Family } from './exposition.ts';
import { Tally } from './tally.ts';
import type { LoopLag } from './loop-lag.ts';

/** A call's outcome: what the request counters, tokens, cost and latency count. */
type OutcomeEvent = EventOf<'response'> | EventOf<'error'>;

export interface MetricsOptions {
  readonly bus: EventBus;
  readonly ledger: Ledger;
  readonly agents: { list(): Agent[] };
  readonly policies: { effective(agent: Agent, now: number): PolicyResult };
  /** The history writer, for its queue length (optional). */
  readonly history?: { readonly pendingEntries: number };
  /** Model calls in progress (pipeline/in-flight.ts), optional. */
  readonly inFlight?: { readonly count: number };
  /** Event-loop delay (loop-lag.ts), optional: each scrape reads the delays since the previous one. */
  readonly loopLag?: Pick<LoopLag, 'take'>;
  readonly now?: () => number;
  /** Families of other modules written after these (the key pools' per-key series: src/keys/pool-view.ts). */
  readonly extraFamilies?: () => readonly Family[];
  /** How often the series of agents gone from the registry are dropped (default 60 s; they go at the second check that misses them). */
  readonly forgetEveryMs?: number;
}

export interface Metrics {
  readonly contentType: string;
  /**
   * Reads ledger standings and health, then renders the exposition text, in pieces to send one after another
   * (concurrent calls share one rendering). The per-agent families are read and written in chunks that yield to the
   * event loop, so a scrape never holds it long whatever the number of agents.
   */
  renderPieces(): Promise<readonly string[]>;
  /** The same text whole. */
  render(): Promise<string>;
  /** Drops the series of agents missing from the registry at this check and the one before (what the timer runs). */
  forgetDeparted(): void;
  close(): void;
}

const LATENCY_BUCKETS_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** The counters: tallied on the hot path, written from the tallies at scrape time. */
const COUNTERS = {
  requests: {
    name: 'tollgate_requests_total',
    help: 'Model calls answered, by agent, provider/model and HTTP status (0 = no HTTP answer).',
    labelNames: ['agent', 'model', 'status'],
  },
  tokens: {
    name: 'tollgate_tokens_total',
    help: 'Tokens reported by upstream, by kind (input, output, cache_read, cache_write).',
    labelNames: ['agent', 'model', 'kind'],
  },
  cost: { name: 'tollgate_cost_micros_total', help: 'Priced spend in micro-dollars (1 USD = 1e6).', labelNames: ['agent', 'model'] },
  unpriced: { name: 'tollgate_unpriced_requests_total', help: 'Calls that reported usage but have no known price.', labelNames: ['agent', 'model'] },
  decisions: {
    name: 'tollgate_budget_decisions_total',
    help: 'Budget admission decisions by outcome (allow, soft, block, unavailable).',
    labelNames: ['agent', 'outcome'],
  },
  interventions: {
    name: 'tollgate_interventions_total',
    help: 'Interventions by name (budget_exceeded, rate_limited, budget_check_unavailable, model_downgraded, ...).',
    labelNames: ['agent', 'intervention'],
  },
  failovers: {
    name: 'tollgate_failovers_total',
    help: "Switches to a model policy's next candidate, by candidate left (provider/model), candidate taken and cllama reason (http_500, transport_error, ...).",
    labelNames: ['from', 'to', 'reason'],
  },
  circuits: {
    name: 'tollgate_circuit_changes_total',
    help: 'Candidate circuits changing state (open, half_open, closed), by provider/model.',
    labelNames: ['model', 'state'],
  },
  overrides: { name: 'tollgate_override_changes_total', help: 'Governance override changes made through the admin API.', labelNames: ['action'] },
} as const;
type CounterKey = keyof typeof COUNTERS;
/** The counters labelled by agent (first label): their series of a deleted agent are dropped. */
const PER_AGENT: readonly CounterKey[] = ['requests', 'tokens', 'cost', 'unpriced', 'decisions', 'interventions'];
/** The counters labelled by model (second label), with the latency histogram. */
const PER_MODEL: readonly CounterKey[] = ['requests', 'tokens', 'cost', 'unpriced'];
const DEFAULT_FORGET_EVERY_MS = 60_000;

/** The families prom-client holds and renders: their series do not grow with the number of agents. */
const PROM_RENDERED = {
  latency: 'tollgate_upstream_latency_seconds',
  ledgerUp: 'tollgate_ledger_up',
  historyPending: 'tollgate_history_pending_entries',
  inFlight: 'tollgate_in_flight_calls',
  loopLag: 'tollgate_event_loop_lag_seconds',
} as const;

export function createMetrics(options: MetricsOptions): Metrics {
  const registry = new Registry();
  const now = options.now ?? Date.now;
  const registers = [registry];
  // counted on the hot path as plain numbers, written out as counters whenever they are scraped
  const tallies = Object.fromEntries(Object.entries(COUNTERS).map(([key, counter]) => [key, new Tally(counter.labelNames)])) as Record<
    CounterKey,
    Tally<string>
  >;
  const latency = new Histogram({
    name: PROM_RENDERED.latency,
    help: 'Time from request start to the end of the relayed upstream response.',
    labelNames: ['provider', 'model'],
    buckets: LATENCY_BUCKETS_SECONDS,
    registers,
  });
  const ledgerUp = new Gauge({ name: PROM_RENDERED.ledgerUp, help: '1 when the budget ledger answers its health check.', labelNames: ['kind'], registers });
  const historyPending = new Gauge({ name: PROM_RENDERED.historyPending, help: 'Session history entries queued but not yet written.', registers });
  const inFlight = new Gauge({ name: PROM_RENDERED.inFlight, help: 'Model calls in progress (admitted, not yet charged, recorded and observed).', registers });
  const loopLag = new Gauge({
    name: PROM_RENDERED.loopLag,
    help: 'Event-loop delay since the previous scrape: p50, p99 and max.',
    labelNames: ['stat'],
    registers,
  });

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
      case 'loop_detected':
        tallies.interventions.add([agent, 'loop_detected']);
        return;
      case 'failover':
        tallies.failovers.add([`${event.from_provider}/${event.from_model}`, `${event.to_provider}/${event.to_model}`, event.reason]);
        return;
      case 'circuit':
        tallies.circuits.add([`${event.provider}/${event.upstream_model}`, event.state]);
        return;
      default:
    }
  };
  const unsubscribe = options.bus.subscribe(onEvent);

  const departed = new DepartedAgents();
  const forgetDeparted = (): void => {
    const present = new Set(options.agents.list().map((agent) => agent.id));
    const gone = departed.check({
      held: labelsAt(
        PER_AGENT.map((key) => tallies[key]),
        0,
      ),
      present: (id) => present.has(id),
    });
    if (gone.size === 0) return;
    for (const key of PER_AGENT) tallies[key].dropWhere(0, gone);
    const inUse = new Set(
      labelsAt(
        PER_MODEL.map((key) => tallies[key]),
        1,
      ),
    );
    for (const series of models.retain(inUse)) latency.remove(series);
  };
  const forgetTimer = setInterval(forgetDeparted, options.forgetEveryMs ?? DEFAULT_FORGET_EVERY_MS);
  forgetTimer.unref();

  const counter = (key: CounterKey): Family => ({ ...COUNTERS[key], type: 'counter', series: tallies[key].series() });

  /** The budget rows (null: the ledger could not be read), then ledger health and the history queue into their gauges. */
  async function readGauges(): Promise<BudgetRow[] | null> {
    // the ledger is down: ledger_up says so below and the budget gauges are left out (whole, not those read so far)
    const rows = await readBudgetRows({ agents: options.agents.list(), policies: options.policies, ledger: options.ledger, now: now() }).catch(() => null);
    const health = await options.ledger.health().catch(() => ({ ok: false, kind: 'unknown' }));
    ledgerUp.reset();
    ledgerUp.set({ kind: health.kind }, health.ok ? 1 : 0);
    if (options.history) historyPending.set(options.history.pendingEntries);
    if (options.inFlight) inFlight.set(options.inFlight.count);
    const lag = options.loopLag?.take();
    if (lag) for (const stat of ['p50', 'p99', 'max'] as const) loopLag.set({ stat }, lag[stat]);
    return rows;
  }

  // The families in the order prom-client laid them out when it rendered them all: counters with the histogram among
  // them, the budget gauges, the health gauges. The per-agent ones are written here in chunks; prom-client renders the
  // rest (bounded in size whatever the number of agents) one family at a time.
  async function renderText(): Promise<readonly string[]> {
    const rows = await readGauges();
    const writer = new ExpositionWriter();
    for (const key of ['requests', 'tokens', 'cost', 'unpriced'] as const) await writer.family(counter(key));
    writer.block(await registry.getSingleMetricAsString(PROM_RENDERED.latency));
    for (const key of ['decisions', 'interventions', 'failovers', 'circuits', 'overrides'] as const) await writer.family(counter(key));
    for (const family of budgetFamilies(rows)) await writer.family(family);
    writer.block(await registry.getSingleMetricAsString(PROM_RENDERED.ledgerUp));
    writer.block(await registry.getSingleMetricAsString(PROM_RENDERED.historyPending));
    if (options.inFlight) writer.block(await registry.getSingleMetricAsString(PROM_RENDERED.inFlight));
    if (options.loopLag) writer.block(await registry.getSingleMetricAsString(PROM_RENDERED.loopLag));
    for (const family of options.extraFamilies?.() ?? []) await writer.family(family);
    return writer.pieces();
  }

  // One scrape at a time: a scrape arriving while one runs (two Prometheus servers, a curl) gets that one's text, so the
  // ledger is read once and no scrape sees the health gauge reset by another.
  let rendering: Promise<readonly string[]> | null = null;
  const renderOnce = async (): Promise<readonly string[]> => {
    try {
      return await renderText();
    } finally {
      rendering = null;
    }
  };

  return {
    contentType: registry.contentType,
    renderPieces() {
      return (rendering ??= renderOnce());
    },
    async render() {
      return (await (rendering ??= renderOnce())).join('');
    },
    forgetDeparted,
    close() {
      unsubscribe();
      clearInterval(forgetTimer);
    },
  };
}

function* labelsAt(tallies: readonly Tally<string>[], index: number): Generator<string> {
  for (const tally of tallies) yield* tally.labelsAt(index);
}

function modelLabel(event: OutcomeEvent, models: ModelLabels): string {
  return typeof event.provider === 'string' && typeof event.upstream_model === 'string' ? models.label(event.provider, event.upstream_model) : NO_MODEL;
}

function countTokens(event: OutcomeEvent, add: (kind: string, value: number) => void): void {
  countKind(event.tokens_in, 'input', add);
  countKind(event.tokens_out, 'output', add);
  countKind(event.cached_tokens, 'cache_read', add);
  countKind(event.cache_write_tokens, 'cache_write', add);
}

function countKind(value: unknown, kind: string, add: (kind: string, value: number) => void): void {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) add(kind, value);
}
