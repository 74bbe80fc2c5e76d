// Delivers alerts (budget_alert, a provider key dying, a key pool cooling) to a webhook off the request path: bounded, retried, never throws.
import { randomUUID } from 'node:crypto';
import type { EventBus, EventOf, EventType } from '../observability/events.ts';

/** What the webhook delivers: threshold alerts and loop detections (each with its `alert_id`). */
type WebhookAlert = EventOf<'budget_alert'> | EventOf<'loop_detected'>;

export interface AlertWebhookOptions {
  readonly bus: EventBus;
  /** Where alerts are POSTed as JSON. Treated as a secret: only its host appears in error messages. */
  readonly url: string;
  readonly fetch?: typeof fetch;
  /** Per attempt, answer included (default 5000 ms). */
  readonly timeoutMs?: number;
  /** Waits before each retry; tries = length + 1 (default 500, 1000, 2000 ms: 4 tries). */
  readonly retryDelaysMs?: readonly number[];
  /** The longest wait a `Retry-After` may ask for between two tries (default 60 s). */
  readonly maxRetryAfterMs?: number;
  /** Alerts waiting beyond this are dropped and reported (default 1000). */
  readonly maxQueue?: number;
}

/** Calling it detaches (same as `close()`, without waiting), like the other `attach*` helpers. */
export interface AlertWebhook {
  (): void;
  /** Alerts queued or being delivered. */
  readonly pending: number;
  /** Resolves when every queued alert has been delivered or given up on. */
  idle(): Promise<void>;
  /** Stops listening; the alert being delivered finishes its current try (a wait between tries ends at once), the rest are dropped. */
  close(): Promise<void>;
}

const DEFAULT_RETRY_DELAYS_MS = [500, 1000, 2000];
const DEFAULT_MAX_RETRY_AFTER_MS = 60_000;

type Attempt = { ok: true } | { ok: false; retryable: boolean; reason: string; retryAfterMs: number | null };

export function attachAlertWebhook(options: AlertWebhookOptions): AlertWebhook {
  const send = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 5000;
  const delays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  const maxRetryAfterMs = options.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS;
  const maxQueue = options.maxQueue ?? 1000;
  const host = safeHost(options.url);
  const queue: Alert[] = [];
  let worker: Promise<void> | null = null;
  let closed = false;
  /** Ends the wait between two tries early (on close). */
  let wake: (() => void) | null = null;

  const report = (event: Alert, message: string) => {
    const about = event.type === 'budget_alert' ? { limit_id: event.limit_id, threshold: event.threshold } : {};
    options.bus.emit({
      type: 'warning',
      claw_id: event.claw_id,
      model: event.model,
      intervention: null,
      error: `alert webhook (${host}): ${message}`,
      ...about,
    });
  };

  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        wake = null;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(timer);
        wake = null;
        resolve();
      };
    });

  const deliver = async (event: Alert): Promise<void> => {
    const body = JSON.stringify(event);
    // a try that timed out may still have reached the receiver: every try of one alert carries the same key
    const idempotencyKey = 'alert_id' in event && typeof event.alert_id === 'string' ? event.alert_id : randomUUID();
    let last: Attempt | null = null;
    for (let attempt = 0; attempt <= delays.length; attempt++) {
      if (last && !last.ok) {
        // the receiver's Retry-After (bounded) when it asks for longer than the backoff
        await pause(Math.max(delays[attempt - 1], Math.min(last.retryAfterMs ?? 0, maxRetryAfterMs)));
        if (closed) break;
      }
      last = await postOnce({ send, url: options.url, body, idempotencyKey, timeoutMs });
      if (last.ok) return;
      if (!last.retryable) break;
    }
    report(event, `delivery failed (${last && !last.ok ? last.reason : 'closed'}); alert dropped`);
  };

  const run = async () => {
    while (queue.length > 0 && !closed) await deliver(queue.shift()!);
    worker = null;
  };

  const unsubscribe = options.bus.subscribe((event) => {
    if (!isAlert(event) || closed) return;
    if (queue.length >= maxQueue) {
      report(event, `queue full (${maxQueue} alerts waiting); alert dropped`);
      return;
    }
    queue.push(event);
    worker ??= run();
  });

  const close = async () => {
    closed = true;
    unsubscribe();
    queue.length = 0;
    wake?.();
    await worker;
  };
  const detach = (() => void close()) as AlertWebhook;
  Object.defineProperties(detach, {
    pending: { get: () => queue.length + (worker ? 1 : 0) },
    idle: {
      value: async () => {
        while (worker) await worker;
      },
    },
    close: { value: close },
  });
  return detach;
}

type Alert = WebhookAlert | EventOf<'provider_pool'>;

/**
 * Budget thresholds, a loop's first flag and each new escalation level (not every flagged call), a key dead from an
 * upstream refusal here (not one another replica reported), a whole key pool cooling.
 */
function isAlert(event: EventOf<EventType>): event is Alert {
  if (event.type === 'budget_alert') return true;
  if (event.type === 'loop_detected') return Boolean(event.alert);
  return event.type === 'provider_pool' && event.replica !== 'remote' && (event.action === 'dead' || event.action === 'pool_cooling');
}

/**
 * One POST. A redirect is not followed: fetch would turn a 301/302/303 into a GET without the alert (and call that
 * delivered), and a webhook URL that moved must be changed by the operator, not guessed. The answer's body is never
 * read (a receiver answering with an endless body would otherwise be buffered in memory until the timeout).
 */
async function postOnce(input: { send: typeof fetch; url: string; body: string; idempotencyKey: string; timeoutMs: number }): Promise<Attempt> {
  try {
    const response = await input.send(input.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'tollgate-alerts', 'idempotency-key': input.idempotencyKey },
      body: input.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(input.timeoutMs),
    });
    await response.body?.cancel().catch(() => undefined);
    if (response.ok) return { ok: true };
    if (response.status >= 300 && response.status < 400) {
      return {
        ok: false,
        retryable: false,
        reason: `HTTP ${response.status} redirect, not followed: set TOLLGATE_ALERT_WEBHOOK_URL to the new address`,
        retryAfterMs: null,
      };
    }
    const retryable = response.status >= 500 || response.status === 408 || response.status === 429;
    return { ok: false, retryable, reason: `HTTP ${response.status}`, retryAfterMs: retryAfterMs(response.headers.get('retry-after'), Date.now()) };
  } catch (error) {
    const name = (error as Error).name;
    const message = name === 'TimeoutError' ? `timed out after ${input.timeoutMs} ms` : (error as Error).message.split(input.url).join('<webhook url>');
    return { ok: false, retryable: true, reason: message, retryAfterMs: null };
  }
}

/** The wait an HTTP `Retry-After` (delay-seconds or an HTTP date) asks for in ms (>= 0), or null when absent or unreadable. */
export function retryAfterMs(value: string | null, now: number): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid URL';
  }
}
