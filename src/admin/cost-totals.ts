// Per (agent, provider, model) usage and cost totals in micro-dollars: seeded from session history, then kept live from bus events.
import type { HistoryEntry } from '../history/entry.ts';
import { historyCostMicros } from '../history/entry.ts';
import type { ScanHistoryOptions } from '../history/reader.ts';
import { DepartedAgents } from '../observability/departed-agents.ts';
import type { EventBus, ProxyEvent } from '../observability/events.ts';

/** One call's contribution: tokens, and its cost in micro-dollars or null when the price is unknown. */
export interface CostRecord {
  readonly agent: string;
  readonly provider: string;
  readonly model: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly costMicros: number | null;
}

export interface ModelTotals {
  readonly provider: string;
  readonly model: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly costMicros: number;
  readonly requests: number;
  readonly pricedRequests: number;
  readonly unpricedRequests: number;
}

export interface AgentTotals {
  readonly agent: string;
  readonly costMicros: number;
  readonly requests: number;
  readonly pricedRequests: number;
  readonly unpricedRequests: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** Sorted by `provider/model`. */
  readonly models: readonly ModelTotals[];
}

/** What agents that have left the registry spent, summed: it stays in the grand totals, not listed per agent. */
export type RetiredTotals = Omit<AgentTotals, 'agent' | 'models'>;

export interface CostTotalsOptions {
  readonly bus: EventBus;
  /** Session history root; null = nothing to seed from. */
  readonly historyDir: string | null;
  /** scanHistory from src/history/reader.ts (injected so tests can feed entries). */
  readonly scanHistory: (options: ScanHistoryOptions) => AsyncIterable<HistoryEntry>;
  readonly onError?: (message: string) => void;
  readonly now?: () => number;
  /**
   * How long request ids seen on both sides are remembered to avoid double counting a call that was in flight when
   * counting started (its history entry predates the subscription, its event follows it). Default 1 hour.
   */
  readonly inFlightHorizonMs?: number;
  /**
   * Whether an agent is in the registry now. Given: an agent missing from it at two checks `retireEveryMs` apart is
   * retired (its totals folded into `retired()`, its per-agent rows dropped), and history of agents missing at start is
   * seeded straight into the retired sum, so a fleet that creates and deletes agents for months does not keep a row
   * for every agent it ever had. Absent: every agent is kept.
   */
  readonly isAgent?: (agentId: string) => boolean;
  /** Default 60 s. */
  readonly retireEveryMs?: number;
}

interface Bucket {
  provider: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
  costMicros: number;
  requests: number;
  pricedRequests: number;
  unpricedRequests: number;
}

const DEFAULT_HORIZON_MS = 60 * 60_000;
const DEFAULT_RETIRE_EVERY_MS = 60_000;
/** Distinct models kept per agent (models are strings agents choose); the rest are summed as `<provider>/other`. */
export const MAX_MODELS_PER_AGENT = 200;
const OTHER_MODEL = 'other';

export class CostTotals {
  readonly #options: CostTotalsOptions;
  readonly #now: () => number;
  readonly #agents = new Map<string, Map<string, Bucket>>();
  /** Request ids counted from live events while the seeding scan runs. */
  #liveIds: Set<string> | null = null;
  /** Request ids the scan counted that were recent enough to still produce a live event. */
  #scannedRecent = new Set<string>();
  #subscribedAt = 0;
  #unsubscribe: (() => void) | null = null;
  #ready = false;
  #scan: Promise<void> | null = null;
  #stopped = false;
  #forgetTimer: NodeJS.Timeout | null = null;
  #retireTimer: NodeJS.Timeout | null = null;
  readonly #departed = new DepartedAgents();
  #retired: Bucket = emptyBucket('', '');

  constructor(options: CostTotalsOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** True once the history scan has finished (or failed, or there was nothing to scan). */
  get ready(): boolean {
    return this.#ready;
  }

  /** Subscribes to the bus now and seeds from history in the background; the promise resolves when seeding is done. */
  start(): Promise<void> {
    if (this.#scan) return this.#scan;
    this.#subscribedAt = this.#now();
    this.#liveIds = new Set();
    this.#unsubscribe = this.#options.bus.subscribe((event) => this.#onEvent(event));
    if (this.#options.isAgent) {
      this.#retireTimer = setInterval(() => this.retireDeparted(), this.#options.retireEveryMs ?? DEFAULT_RETIRE_EVERY_MS);
      this.#retireTimer.unref();
    }
    this.#scan = this.#seed().finally(() => {
      this.#ready = true;
      this.#liveIds = null;
      const horizon = this.#options.inFlightHorizonMs ?? DEFAULT_HORIZON_MS;
      this.#forgetTimer = setTimeout(() => this.#scannedRecent.clear(), horizon);
      this.#forgetTimer.unref();
    });
    return this.#scan;
  }

  stop(): void {
    this.#stopped = true;
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    if (this.#forgetTimer) clearTimeout(this.#forgetTimer);
    if (this.#retireTimer) clearInterval(this.#retireTimer);
  }

  /** Folds the totals of agents missing from the registry now and at the previous check into `retired()` (the timer's job). */
  retireDeparted(): void {
    const isAgent = this.#options.isAgent;
    if (!isAgent) return;
    for (const agent of this.#departed.check({ held: this.#agents.keys(), present: isAgent })) {
      for (const bucket of this.#agents.get(agent)?.values() ?? []) addBucket(this.#retired, bucket);
      this.#agents.delete(agent);
    }
  }

  /** What retired agents spent, summed. */
  retired(): RetiredTotals {
    const { costMicros, requests, pricedRequests, unpricedRequests, inputTokens, outputTokens } = this.#retired;
    return { costMicros, requests, pricedRequests, unpricedRequests, inputTokens, outputTokens };
  }

  /** Adds one call. */
  record(record: CostRecord): void {
    let models = this.#agents.get(record.agent);
    if (!models) {
      models = new Map();
      this.#agents.set(record.agent, models);
    }
    let key = `${record.provider}/${record.model}`;
    let bucket = models.get(key);
    if (!bucket && models.size >= MAX_MODELS_PER_AGENT) {
      key = `${record.provider}/${OTHER_MODEL}`;
      bucket = models.get(key);
    }
    if (!bucket) {
      bucket = emptyBucket(record.provider, key.slice(record.provider.length + 1));
      models.set(key, bucket);
    }
    addRecord(bucket, record);
  }

  /** Every agent's totals, agents sorted by id, models by `provider/model`. */
  agents(): AgentTotals[] {
    return [...this.#agents.keys()].sort(compareText).map((agent) => this.agent(agent)!);
  }

  agent(agentId: string): AgentTotals | null {
    const models = this.#agents.get(agentId);
    if (!models) return null;
    const sorted = [...models.entries()].sort(([a], [b]) => compareText(a, b)).map(([, bucket]) => ({ ...bucket }));
    const sum = (pick: (model: ModelTotals) => number) => sorted.reduce((total, model) => total + pick(model), 0);
    return {
      agent: agentId,
      costMicros: sum((m) => m.costMicros),
      requests: sum((m) => m.requests),
      pricedRequests: sum((m) => m.pricedRequests),
      unpricedRequests: sum((m) => m.unpricedRequests),
      inputTokens: sum((m) => m.inputTokens),
      outputTokens: sum((m) => m.outputTokens),
      models: sorted,
    };
  }

  #onEvent(event: ProxyEvent): void {
    if (event.type !== 'response' && event.type !== 'error') return;
    const record = recordFromEvent(event);
    if (!record) return;
    const requestId = typeof event.request_id === 'string' ? event.request_id : null;
    if (requestId && this.#scannedRecent.has(requestId)) return; // the scan already counted its history entry
    if (requestId && this.#liveIds) this.#liveIds.add(requestId);
    this.record(record);
  }

  async #seed(): Promise<void> {
    const dir = this.#options.historyDir;
    if (!dir) return;
    const horizon = this.#options.inFlightHorizonMs ?? DEFAULT_HORIZON_MS;
    try {
      for await (const entry of this.#options.scanHistory({ dir })) {
        if (this.#stopped) return;
        const ts = Date.parse(entry.ts);
        if (!(ts < this.#subscribedAt)) continue; // started after the subscription: counted from its event
        const requestId = typeof entry.request_id === 'string' ? entry.request_id : null;
        if (requestId && this.#liveIds?.has(requestId)) continue; // its event was already counted
        const record = recordFromEntry(entry);
        if (!record) continue;
        if (requestId && ts > this.#subscribedAt - horizon) this.#scannedRecent.add(requestId);
        if (this.#options.isAgent && !this.#options.isAgent(record.agent)) addRecord(this.#retired, record);
        else this.record(record);
      }
    } catch (error) {
      this.#options.onError?.(`cost totals: reading session history failed: ${(error as Error).message}`);
    }
  }
}

function emptyBucket(provider: string, model: string): Bucket {
  return { provider, model, inputTokens: 0, outputTokens: 0, costMicros: 0, requests: 0, pricedRequests: 0, unpricedRequests: 0 };
}

function addRecord(bucket: Bucket, record: CostRecord): void {
  bucket.inputTokens += record.inputTokens;
  bucket.outputTokens += record.outputTokens;
  bucket.requests += 1;
  if (record.costMicros === null) bucket.unpricedRequests += 1;
  else {
    bucket.costMicros += record.costMicros;
    bucket.pricedRequests += 1;
  }
}

function addBucket(into: Bucket, from: Bucket): void {
  into.inputTokens += from.inputTokens;
  into.outputTokens += from.outputTokens;
  into.costMicros += from.costMicros;
  into.requests += from.requests;
  into.pricedRequests += from.pricedRequests;
  into.unpricedRequests += from.unpricedRequests;
}

/** A `response`/`error` event of a routed call that reported usage (what pipeline/outcome-event.ts builds). */
export function recordFromEvent(event: ProxyEvent): CostRecord | null {
  if (event.type !== 'response' && event.type !== 'error') return null;
  const { claw_id: agent, provider, upstream_model: model } = event;
  if (typeof agent !== 'string' || typeof provider !== 'string' || typeof model !== 'string') return null;
  const fresh = numberOrUndefined(event.tokens_in);
  const cacheRead = numberOrUndefined(event.cached_tokens);
  const cacheWrite = numberOrUndefined(event.cache_write_tokens);
  const output = numberOrUndefined(event.tokens_out);
  const cost = numberOrUndefined(event.cost_micros);
  if (fresh === undefined && cacheRead === undefined && cacheWrite === undefined && output === undefined && cost === undefined) return null;
  return {
    agent,
    provider,
    model,
    inputTokens: (fresh ?? 0) + (cacheRead ?? 0) + (cacheWrite ?? 0),
    outputTokens: output ?? 0,
    costMicros: cost === undefined ? null : Math.round(cost),
  };
}

/** A history entry that recorded usage (cllama's or ours). */
export function recordFromEntry(entry: HistoryEntry): CostRecord | null {
  const usage = (entry.usage ?? {}) as Record<string, unknown>;
  const prompt = numberOrUndefined(usage.prompt_tokens);
  const completion = numberOrUndefined(usage.completion_tokens);
  const costMicros = historyCostMicros(entry);
  if (prompt === undefined && completion === undefined && costMicros === null) return null;
  if (typeof entry.claw_id !== 'string' || entry.claw_id === '') return null;
  return {
    agent: entry.claw_id,
    provider: typeof entry.effective_provider === 'string' ? entry.effective_provider : '',
    model: typeof entry.effective_model === 'string' ? entry.effective_model : '',
    inputTokens: prompt ?? 0,
    outputTokens: completion ?? 0,
    costMicros,
  };
}

function numberOrUndefined(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
