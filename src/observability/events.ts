// The event bus: the pipeline emits one event per outcome; the audit log, metrics, alerts and dashboard subscribe.
import type { EventDraft, ProxyEvent } from './event-types.ts';

export type * from './event-types.ts';

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
  emit(event: EventDraft): void {
    event.ts ??= isoNow();
    const stamped = event as ProxyEvent; // ts is set just above
    for (const listener of this.#listeners) {
      try {
        listener(stamped);
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
