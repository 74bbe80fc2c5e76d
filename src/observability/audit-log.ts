// The audit stream: one JSON line per bus event on stdout (cllama's field set), through pino, secrets redacted.
import pino from 'pino';
import type { EventBus, ProxyEvent } from './events.ts';
import { redactSecrets } from './redact.ts';

export interface AuditLogOptions {
  readonly bus: EventBus;
  /** Default: stdout through an asynchronous pino destination (sonic-boom, `sync: false`). Tests pass their own. */
  readonly destination?: NodeJS.WritableStream | pino.DestinationStream;
  /** 'silent' turns the audit stream off; every event is logged at 'info'. */
  readonly level?: pino.LevelWithSilentOrString;
}

/** Calling the handle detaches the log from the bus (same as `detach`). */
export interface AuditLogHandle {
  (): void;
  detach(): void;
  /** Resolves when every line written so far has been handed to the destination's file descriptor. */
  flush(): Promise<void>;
}

/** Subscribes the audit log to the bus. Call `flush()` at shutdown so buffered lines reach stdout. */
export function attachAuditLog(options: AuditLogOptions): AuditLogHandle {
  const destination = (options.destination ?? pino.destination({ dest: 1, sync: false })) as pino.DestinationStream;
  const logger = pino(
    {
      level: options.level ?? 'info',
      base: null, // no pid / hostname
      timestamp: false, // `ts` comes from the event
      formatters: { level: () => ({}) }, // no `level`
      // with neither level nor time pino starts the line with "{,": drop that comma just before the write
      hooks: { streamWrite: (line) => (line.startsWith('{,') ? '{' + line.slice(2) : line) },
    },
    destination,
  );
  const unsubscribe = options.bus.subscribe((event) => {
    logger.info(toAuditRecord(event));
  });
  let attached = true;
  const detach = (): void => {
    if (!attached) return;
    attached = false;
    unsubscribe();
  };
  const handle = (() => detach()) as AuditLogHandle;
  handle.detach = detach;
  handle.flush = () => new Promise<void>((resolve) => {
    try {
      logger.flush(() => resolve());
    } catch {
      resolve(); // a destination that is not ready or already closed has nothing more to flush
    }
  });
  return handle;
}

/**
 * One audit line's object: `ts` (RFC3339 UTC), `type`, `claw_id`, `model`, `intervention` (each always present, null
 * when unset), then the event's other fields as given, with secret-named fields and key-shaped strings redacted.
 */
export function toAuditRecord(event: ProxyEvent): Record<string, unknown> {
  const { ts, type, claw_id, model, intervention, ...rest } = event;
  return {
    ts: toUtcTimestamp(ts),
    type,
    claw_id: claw_id ?? null,
    model: model ?? null,
    intervention: intervention ?? null,
    ...(redactSecrets(rest) as Record<string, unknown>),
  };
}

function toUtcTimestamp(ts: string | undefined): string {
  const ms = ts ? Date.parse(ts) : Number.NaN;
  return new Date(Number.isNaN(ms) ? Date.now() : ms).toISOString();
}
