// Shared fixtures for budget tests: agents, a fixed-rate pricer, a clock, and a bus that records events.
import type { Agent } from '../../../src/auth/agent.ts';
import { EventBus, type EventOf, type EventType, type ProxyEvent } from '../../../src/observability/events.ts';
import type { ModelRates, Pricer } from '../../../src/pricing/pricer.ts';

export function makeAgent(
  input: { id?: string; budget?: unknown; override?: unknown; overrideError?: string; dir?: string } = {},
): Agent & { contextOverrideError?: string } {
  const id = input.id ?? 'a';
  return {
    id,
    secret: 's3cret',
    pod: 'pod',
    service: id,
    type: 'openclaw',
    timezone: 'UTC',
    dir: input.dir ?? `/ctx/${id}`,
    metadataBudget: input.budget,
    contextOverride: input.override,
    historyTokens: [],
    ...(input.overrideError ? { contextOverrideError: input.overrideError } : {}),
  };
}

/** Prices by `provider/model`; unknown models have no rates. Rates are USD per million tokens. */
export function fixedPricer(table: Record<string, ModelRates>): Pricer {
  return {
    rates: (provider, model) => table[`${provider}/${model}`] ?? null,
    // the ceiling of every provider: the highest rates in the table
    ceilingRates: () =>
      Object.values(table).reduce(
        (top, rates) => ({ inputPerMTok: Math.max(top.inputPerMTok, rates.inputPerMTok), outputPerMTok: Math.max(top.outputPerMTok, rates.outputPerMTok) }),
        { inputPerMTok: 0, outputPerMTok: 0 },
      ),
    price: ({ provider, model, usage }) => {
      const rates = table[`${provider}/${model}`];
      if (!rates) return { costMicros: null, source: 'unknown' };
      return { costMicros: Math.ceil((usage.inputTokens ?? 0) * rates.inputPerMTok + (usage.outputTokens ?? 0) * rates.outputPerMTok), source: 'price_table' };
    },
  };
}

export function clock(start = Date.parse('2026-03-01T00:00:00Z')): { now: () => number; set: (t: number) => void; advance: (ms: number) => void } {
  let t = start;
  return {
    now: () => t,
    set: (value) => {
      t = value;
    },
    advance: (ms) => {
      t += ms;
    },
  };
}

export function recordingBus(): { bus: EventBus; events: ProxyEvent[]; of: <T extends EventType>(type: T) => EventOf<T>[] } {
  const bus = new EventBus();
  const events: ProxyEvent[] = [];
  bus.subscribe((event) => events.push(event));
  const of = <T extends EventType>(type: T): EventOf<T>[] => events.filter((event): event is EventOf<T> => event.type === type);
  return { bus, events, of };
}
