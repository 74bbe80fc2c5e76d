// The event bus: the pipeline emits one event per outcome; the audit log, metrics, alerts and dashboard subscribe.
export type EventType = 'request' | 'response' | 'error' | 'intervention' | 'budget_decision' | 'budget_alert' | 'override_changed' | 'policy_error';

export interface ProxyEvent {
  readonly type: EventType;
  /** ISO-8601 time the event happened. */
  readonly ts: string;
  readonly claw_id: string | null;
  readonly model: string | null;
  /** Intervention name (budget_exceeded, rate_limited, budget_check_unavailable, budget_alert, model_downgraded, ...) or null. */
  readonly intervention: string | null;
  readonly request_id?: string;
  readonly path?: string;
  readonly status_code?: number;
  readonly latency_ms?: number;
  readonly tokens_in?: number;
  readonly tokens_out?: number;
  readonly cost_usd?: number;
  readonly cost_micros?: number;
  readonly error?: string;
  /** Anything else a specific event carries (budget numbers, policy source, ...). */
  readonly [key: string]: unknown;
}

export type EventListener = (event: ProxyEvent) => void;

export class EventBus {
  readonly #listeners = new Set<EventListener>();

  subscribe(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Delivers synchronously; a throwing listener is isolated so it can never break the request path. The bus takes
   * the event over: it is stamped in place (no copy per event) and must not be changed afterwards.
   */
  emit(event: Omit<ProxyEvent, 'ts'> & { ts?: string }): void {
    const full = event as { ts?: string } & Omit<ProxyEvent, 'ts'>;
    full.ts ??= isoNow();
    for (const listener of this.#listeners) {
      try {
        listener(full as ProxyEvent);
      } catch {
        // a subscriber's failure is its own problem
      }
    }
  }
}

let isoMs = -1;
let isoText = '';

/** The current time as ISO-8601, formatted once per millisecond (a call emits several events within one). */
function isoNow(): string {
  const ms = Date.now();
  if (ms !== isoMs) {
    isoMs = ms;
    isoText = new Date(ms).toISOString();
  }
  return isoText;
}
