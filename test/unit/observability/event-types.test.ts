// Compile-time checks of the event union: each `@ts-expect-error` line must fail to compile (npm test's typecheck fails otherwise).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventBus, type ProxyEvent } from '../../../src/observability/events.ts';

const head = { claw_id: 'a', model: 'openai/gpt-4o', intervention: null } as const;

/** Emits that must not compile; never called (the typecheck is the test). */
export function wrongPayloads(bus: EventBus): void {
  // @ts-expect-error a warning is no call outcome: it has no status_code
  bus.emit({ type: 'warning', ...head, error: 'ledger down', status_code: 0 });
  // @ts-expect-error a field no event of its type has
  bus.emit({ type: 'budget_decision', ...head, request_id: 'r', outcome: 'allow', cost_usd: 1 });
  // @ts-expect-error an outcome the decision type does not know
  bus.emit({ type: 'budget_decision', ...head, request_id: 'r', outcome: 'maybe' });
  // @ts-expect-error a response without its status code
  bus.emit({ type: 'response', ...head, request_id: 'r', path: '/v1/messages', provider: 'p', upstream_model: 'm', stream: false, latency_ms: 1 });
  // @ts-expect-error an error without its message
  bus.emit({ type: 'error', ...head, status_code: 500 });
  // @ts-expect-error a count as text
  bus.emit({ type: 'warning', ...head, error: 'webhook', threshold: '0.8' });
  // @ts-expect-error a type the bus does not carry
  bus.emit({ type: 'failover', ...head });
}

/** Subscribers get the payload of the type they switch on, read-only. */
export function narrowedPayloads(event: ProxyEvent): number {
  switch (event.type) {
    case 'budget_alert':
      // @ts-expect-error delivered events are not to be changed
      event.threshold = 1;
      return event.threshold + event.used_micros;
    case 'response':
      // @ts-expect-error an alert's field is not on a response
      return event.threshold;
    case 'warning':
      // @ts-expect-error a warning has no status code
      return event.status_code;
    default:
      // @ts-expect-error before narrowing, only the fields every event has
      return event.latency_ms;
  }
}

test('a well-typed event reaches a subscriber narrowed by its type', () => {
  const bus = new EventBus();
  const seen: string[] = [];
  bus.subscribe((event) => {
    if (event.type === 'warning') seen.push(event.error);
  });
  bus.emit({ type: 'warning', ...head, error: 'shared ledger unavailable' });
  bus.emit({ type: 'policy_error', ...head, file: '/x/budget.json', error: 'not this one' });
  assert.deepEqual(seen, ['shared ledger unavailable']);
});
