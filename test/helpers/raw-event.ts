// Events handed to the bus as they are, past the compiler: subscribers must cope with what a careless emitter sends.
import type { EventDraft, EventType } from '../../src/observability/events.ts';

/** A partial or odd event (missing fields, secret-named extras) for testing a subscriber's handling of it. */
export function rawEvent(fields: { readonly type: EventType } & Record<string, unknown>): EventDraft {
  return fields as unknown as EventDraft;
}
