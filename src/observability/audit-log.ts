// The audit stream: one JSON line per bus event on stdout (cllama's field set), through pino's destination, secrets redacted.
import pino from 'pino';
import type { EventBus, ProxyEvent } from './events.ts';
import type { LogSecrets } from './log-secrets.ts';
import { isSecretField, REDACTED, redactSecrets, scrubSecretText } from './redact.ts';

export interface AuditLogOptions {
  readonly bus: EventBus;
  /**
   * Default: stdout through pino's synchronous destination (its default): one write(2) per turn of the event loop on
   * this thread. Handing each write to libuv's thread pool instead (`sync: false`) cost 7% of throughput at 32
   * concurrent calls (A/B 1.07-1.08 rps, twice). A log collector that stops reading slows the proxy down rather than
   * letting unwritten lines pile up in memory. Tests pass their own destination.
   */
  readonly destination?: NodeJS.WritableStream | pino.DestinationStream;
  /** 'silent' turns the audit stream off; every event is logged at 'info'. */
  readonly level?: pino.LevelWithSilentOrString;
  /** Known secrets masked in every line (provider keys, agent secrets, the UI token). */
  readonly secrets?: LogSecrets;
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
  const destination = (options.destination ?? pino.destination({ dest: 1, sync: true })) as pino.DestinationStream & {
    flush?: (cb: (err?: Error) => void) => void;
  };
  // pino decides whether the level lets info lines through; the line itself is built here with one JSON.stringify
  // (pino's per-field serialiser and its line hook cost 3× as much per event, and this runs 2–3 times per call)
  const enabled = pino({ level: options.level ?? 'info' }, destination).isLevelEnabled('info');
  // Lines emitted in one turn of the event loop go to the destination as one write: a call's events (request,
  // budget decision, response) and a burst of finished calls then cost one write to stdout instead of one each.
  let pending = '';
  let scheduled = false;
  const writePending = (): void => {
    scheduled = false;
    if (pending === '') return;
    const text = pending;
    pending = '';
    destination.write(text);
  };
  const unsubscribe = options.bus.subscribe((event) => {
    if (!enabled) return;
    pending += auditLine(event, options.secrets);
    if (!scheduled) {
      scheduled = true;
      setImmediate(writePending);
    }
  });
  let attached = true;
  const detach = (): void => {
    if (!attached) return;
    attached = false;
    unsubscribe();
    writePending();
  };
  const handle = (() => detach()) as AuditLogHandle;
  handle.detach = detach;
  handle.flush = () =>
    new Promise<void>((resolve) => {
      writePending();
      try {
        if (typeof destination.flush === 'function') destination.flush(() => resolve());
        else resolve();
      } catch {
        resolve(); // a destination that is not ready or already closed has nothing more to flush
      }
    });
  return handle;
}

/**
 * The newline-terminated JSON line of one event: exactly JSON.stringify(toAuditRecord(event)), written field by field
 * (no intermediate record, keys quoted once per name), since this runs two or three times per proxied call.
 */
export function auditLine(event: ProxyEvent, secrets?: LogSecrets): string {
  return auditJson(event, secrets) + '\n';
}

/**
 * The audit record of one event as JSON text, without the newline (the dashboard feed sends the same text); with
 * `secrets`, every run of a known secret masked in its text fields (the agent's model string, an upstream's message).
 */
export function auditJson(event: ProxyEvent, secrets?: LogSecrets): string {
  const mask = secrets ? (text: string) => secrets.mask(text) : (text: string) => text;
  const texts = textCaches(secrets);
  let line = `{"ts":${JSON.stringify(toUtcTimestamp(event.ts))},"type":${JSON.stringify(event.type)},"claw_id":${headJson(event.claw_id, mask, texts)},"model":${headJson(event.model, mask, texts)},"intervention":${headJson(event.intervention, mask, texts)}`;
  const fields = event as Readonly<Record<string, unknown>>; // every type's fields, written as they are
  for (const key in fields) {
    if (!Object.hasOwn(fields, key) || HEAD_FIELDS.has(key)) continue;
    const field = fields[key];
    const type = typeof field;
    if (field === undefined || type === 'function' || type === 'symbol') continue;
    const name = fieldName(key);
    // `*tokens` names (secret: null) hold counts; only a non-number there is a credential list
    if (name.secret === true || (name.secret === null && type !== 'number' && isSecretField(key, field))) {
      line += `,${name.quoted}:"${REDACTED}"`;
    } else if (type === 'number') {
      line += `,${name.quoted}:${Number.isFinite(field) ? String(field) : 'null'}`;
    } else if (type === 'string') {
      line += `,${name.quoted}:${name.repeats ? fieldJson(field as string, mask, texts) : textJson(field as string, mask)}`;
    } else if (type === 'boolean') {
      line += `,${name.quoted}:${field ? 'true' : 'false'}`;
    } else {
      line += `,${name.quoted}:${mask(JSON.stringify(redactField(field)))}`; // a masked run never spans a quote: still JSON
    }
  }
  return line + '}';
}

/** A head field (claw_id, model, intervention): masked, not scrubbed, null when unset. */
function headJson(value: string | null | undefined, mask: (text: string) => string, texts: TextCaches): string {
  if (value === null || value === undefined) return 'null';
  let json = texts.head.get(value);
  if (json === undefined) {
    json = JSON.stringify(mask(value));
    remember(texts.head, value, json);
  }
  return json;
}

/** Any other text field: masked, scrubbed, quoted. */
function textJson(text: string, mask: (text: string) => string): string {
  return JSON.stringify(scrubSecretText(mask(text)));
}

function fieldJson(text: string, mask: (text: string) => string, texts: TextCaches): string {
  let json = texts.fields.get(text);
  if (json === undefined) {
    json = textJson(text, mask);
    remember(texts.fields, text, json);
  }
  return json;
}

/**
 * Texts that repeat call after call (agent ids, models, paths, limit ids, policy files) are masked, scrubbed and quoted
 * once: the result depends only on the text and the secrets, so it is kept per text until the secrets change (a new
 * LogSecrets, or a secret added to it: the caches then start over). At most MAX_CACHED_TEXTS texts of at most
 * MAX_CACHED_TEXT characters each; the head fields (masked, not scrubbed) have a cache of their own. Fields whose text
 * is new on every event (UNIQUE_TEXT_FIELDS) are not cached.
 */
interface TextCaches {
  readonly secrets: LogSecrets | undefined;
  readonly generation: number;
  readonly head: Map<string, string>;
  readonly fields: Map<string, string>;
}
const MAX_CACHED_TEXTS = 2048;
const MAX_CACHED_TEXT = 256;
let caches: TextCaches = { secrets: undefined, generation: 0, head: new Map(), fields: new Map() };

function textCaches(secrets: LogSecrets | undefined): TextCaches {
  const generation = secrets?.generation ?? 0;
  if (caches.secrets !== secrets || caches.generation !== generation) caches = { secrets, generation, head: new Map(), fields: new Map() };
  return caches;
}

function remember(texts: Map<string, string>, text: string, json: string): void {
  if (text.length > MAX_CACHED_TEXT) return;
  if (texts.size >= MAX_CACHED_TEXTS) texts.clear();
  texts.set(text, json);
}

/**
 * One audit line's object: `ts` (RFC3339 UTC), `type`, `claw_id`, `model`, `intervention` (each always present, null
 * when unset), then the event's other fields as given, with secret-named fields and key-shaped strings redacted.
 */
export function toAuditRecord(event: ProxyEvent): Record<string, unknown> {
  const record: Record<string, unknown> = {
    ts: toUtcTimestamp(event.ts),
    type: event.type,
    claw_id: event.claw_id ?? null,
    model: event.model ?? null,
    intervention: event.intervention ?? null,
  };
  // Same result as redactSecrets over the other fields, with the per-name verdicts cached (names repeat every event).
  const fields = event as Readonly<Record<string, unknown>>; // every type's fields, written as they are
  for (const key in fields) {
    if (!Object.hasOwn(fields, key) || HEAD_FIELDS.has(key)) continue;
    const field = fields[key];
    if (field === undefined || typeof field === 'function') continue;
    record[key] = isSecretName(key, field) ? REDACTED : redactField(field);
  }
  return record;
}

const HEAD_FIELDS = new Set(['ts', 'type', 'claw_id', 'model', 'intervention']);

/** Per field name: its JSON key, and whether it is secret: true (always), false (never), null (`*tokens`: by value). */
interface FieldName {
  readonly quoted: string;
  readonly secret: boolean | null;
  /** Its texts repeat from call to call (not an id or a message): cached (TextCaches). */
  readonly repeats: boolean;
}

/** Fields whose text is new on nearly every event: caching them would only churn the cache. */
const UNIQUE_TEXT_FIELDS = new Set(['request_id', 'upstream_request_id', 'error', 'reason', 'message']);
const fieldNames = new Map<string, FieldName>();

function fieldName(key: string): FieldName {
  let name = fieldNames.get(key);
  if (name === undefined) {
    name = { quoted: JSON.stringify(key), secret: isSecretField(key, 0) ? true : isSecretField(key, '') ? null : false, repeats: !UNIQUE_TEXT_FIELDS.has(key) };
    if (fieldNames.size >= 1024) fieldNames.clear();
    fieldNames.set(key, name);
  }
  return name;
}

function isSecretName(key: string, value: unknown): boolean {
  const { secret } = fieldName(key);
  return secret ?? isSecretField(key, value);
}

function redactField(value: unknown): unknown {
  if (typeof value === 'string') return scrubSecretText(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object' || value === null) return value;
  return redactSecrets(value);
}

/** RFC3339 UTC with milliseconds; the bus's own `new Date().toISOString()` stamps pass as they are. */
function toUtcTimestamp(ts: string | undefined): string {
  if (ts !== undefined && ts.length === 24 && CANONICAL_UTC.test(ts)) return ts;
  const ms = ts ? Date.parse(ts) : Number.NaN;
  return new Date(Number.isNaN(ms) ? Date.now() : ms).toISOString();
}

const CANONICAL_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
