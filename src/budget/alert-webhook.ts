// Delivers budget_alert events to a webhook off the request path: bounded queue, timeout, retries with backoff, never throws.
import type { EventBus, ProxyEvent } from '../observability/events.ts';

export interface AlertWebhookOptions {
  readonly bus: EventBus;
  /** Where alerts are POSTed as JSON. Treated as a secret: only its host appears in error messages. */
  readonly url: string;
  readonly fetch?: typeof fetch;
  /** Per attempt (default 5000 ms). */
  readonly timeoutMs?: number;
  /** Waits before each retry; tries = length + 1 (default 500, 1000, 2000 ms: 4 tries). */
  readonly retryDelaysMs?: readonly number[];
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
  /** Stops listening; the alert being delivered finishes its current try, the rest are dropped. */
  close(): Promise<void>;
}

const DEFAULT_RETRY_DELAYS_MS = [500, 1000, 2000];

export function attachAlertWebhook(options: AlertWebhookOptions): AlertWebhook {
  const send = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 5000;
  const delays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  const maxQueue = options.maxQueue ?? 1000;
  const host = safeHost(options.url);
  const queue: ProxyEvent[] = [];
  let worker: Promise<void> | null = null;
  let closed = false;

  const report = (event: ProxyEvent, message: string) => {
    options.bus.emit({ type: 'error', claw_id: event.claw_id, model: event.model, intervention: null, status_code: 0, error: `alert webhook (${host}): ${message}`, limit_id: event.limit_id, threshold: event.threshold });
  };

  const deliver = async (event: ProxyEvent): Promise<void> => {
    const body = JSON.stringify(event);
    let last = '';
    for (let attempt = 0; attempt <= delays.length; attempt++) {
      if (attempt > 0) {
        if (closed) break;
        await sleep(delays[attempt - 1]);
      }
      const result = await postOnce({ send, url: options.url, body, timeoutMs });
      if (result.ok) return;
      last = result.reason;
      if (!result.retryable) break;
    }
    report(event, `delivery failed (${last}); alert dropped`);
  };

  const run = async () => {
    while (queue.length > 0 && !closed) await deliver(queue.shift()!);
    worker = null;
  };

  const unsubscribe = options.bus.subscribe((event) => {
    if (event.type !== 'budget_alert' || closed) return;
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

async function postOnce(input: { send: typeof fetch; url: string; body: string; timeoutMs: number }): Promise<{ ok: true } | { ok: false; retryable: boolean; reason: string }> {
  try {
    const response = await input.send(input.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'tollgate-alerts' },
      body: input.body,
      signal: AbortSignal.timeout(input.timeoutMs),
    });
    await response.arrayBuffer().catch(() => undefined);
    if (response.ok) return { ok: true };
    const retryable = response.status >= 500 || response.status === 408 || response.status === 429;
    return { ok: false, retryable, reason: `HTTP ${response.status}` };
  } catch (error) {
    const name = (error as Error).name;
    const message = name === 'TimeoutError' ? `timed out after ${input.timeoutMs} ms` : (error as Error).message.split(input.url).join('<webhook url>');
    return { ok: false, retryable: true, reason: message };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid URL';
  }
}
