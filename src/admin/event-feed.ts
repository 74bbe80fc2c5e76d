// The live feed for the dashboard: bus events kept in a bounded replay buffer and streamed to SSE clients.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { auditJson } from '../observability/audit-log.ts';
import type { EventBus, ProxyEvent } from '../observability/events.ts';
import type { LogSecrets } from '../observability/log-secrets.ts';

export interface EventFeedOptions {
  readonly bus: EventBus;
  /** Events kept for replay to a client that connects (or reconnects) later. Default 500. */
  readonly bufferSize?: number;
  /** Interval of the `ping` event that keeps idle connections open and tells the page the stream is alive. Default 15 s. */
  readonly heartbeatMs?: number;
  /**
   * The first event's id. Default: the clock in microseconds, so ids keep increasing across restarts of the process and a
   * page that reconnects after one does not take the new events for ones it already has.
   */
  readonly firstId?: number;
  /** Known secrets masked in every frame, as in the audit log. */
  readonly secrets?: LogSecrets;
}

interface FeedItem {
  readonly id: number;
  readonly event: ProxyEvent;
  /**
   * The `id:` + `data:` block (the event as its audit line: same fields, same redaction), built the first time a
   * client needs it and then shared: with no dashboard open, events are kept but never serialised.
   */
  frame: string | null;
}

interface Client {
  readonly res: ServerResponse;
  readonly types: ReadonlySet<string> | null;
}

/** Every type but `request` (one per upstream attempt; noise on a dashboard) unless the client asks for it. */
const DEFAULT_EXCLUDED = new Set(['request']);
const DEFAULT_BUFFER = 500;
const DEFAULT_HEARTBEAT_MS = 15_000;
/**
 * A named event (EventSource delivers it to `addEventListener('ping')`, never to `onmessage`, and it carries no id): the
 * page reads it as a sign of life, where a comment would be invisible to it.
 */
const PING_FRAME = 'event: ping\ndata: {}\n\n';
/** What one client may leave unsent before it is dropped... */
const MAX_UNSENT_BYTES = 1 << 20;
/** ...and all clients together: with many clients, each gets its share (dashboards that read keep up with far less). */
const MAX_TOTAL_UNSENT_BYTES = 32 << 20;

export class EventFeed {
  /** Ring buffer: the newest `#size` items, oldest at `#start`. */
  readonly #buffer: FeedItem[] = [];
  #start = 0;
  readonly #size: number;
  readonly #secrets: LogSecrets | undefined;
  readonly #clients = new Set<Client>();
  readonly #unsubscribe: () => void;
  readonly #heartbeat: NodeJS.Timeout;
  #nextId: number;
  #closed = false;

  constructor(options: EventFeedOptions) {
    this.#size = Math.max(1, options.bufferSize ?? DEFAULT_BUFFER);
    this.#secrets = options.secrets;
    this.#nextId = options.firstId ?? Date.now() * 1000;
    this.#unsubscribe = options.bus.subscribe((event) => this.#publish(event));
    this.#heartbeat = setInterval(() => this.#ping(), options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  #frame(item: FeedItem): string {
    return (item.frame ??= `id: ${item.id}\ndata: ${auditJson(item.event, this.#secrets)}\n\n`);
  }

  get clientCount(): number {
    return this.#clients.size;
  }

  /** Starts an SSE stream: replays buffered events (after Last-Event-ID, up to `replay`), then streams live ones. */
  open(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): void {
    const types = parseTypes(query.get('types'));
    const asked = Number(req.headers['last-event-id'] ?? query.get('last_event_id') ?? 0) || 0;
    // an id this feed has not issued yet comes from an earlier life of the process (a restart) or another replica:
    // everything buffered here is news to that client
    const lastId = asked < this.#nextId ? asked : 0;
    const replayParam = query.get('replay');
    const replay = replayParam === null || replayParam === '' ? this.#size : Math.max(0, Math.floor(Number(replayParam)) || 0);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    const client: Client = { res, types };
    const backlog = this.#ordered().filter((item) => item.id > lastId && wanted(client, item.event.type));
    res.write(
      `retry: 3000\n\n${backlog
        .slice(Math.max(0, backlog.length - replay))
        .map((item) => this.#frame(item))
        .join('')}`,
    );
    if (this.#closed) {
      res.end();
      return;
    }
    this.#clients.add(client);
    const drop = () => this.#clients.delete(client);
    req.on('close', drop);
    res.on('close', drop);
  }

  /** Ends every stream (the server is shutting down) and stops listening to the bus. */
  close(): void {
    this.#closed = true;
    this.#unsubscribe();
    clearInterval(this.#heartbeat);
    for (const client of this.#clients) client.res.end();
    this.#clients.clear();
  }

  /** Buffered events, oldest first (for tests and the summary). */
  recent(): readonly { id: number; type: string }[] {
    return this.#ordered().map(({ id, event }) => ({ id, type: event.type }));
  }

  #publish(event: ProxyEvent): void {
    const item: FeedItem = { id: this.#nextId++, event, frame: null };
    if (this.#buffer.length < this.#size) {
      this.#buffer.push(item);
    } else {
      this.#buffer[this.#start] = item;
      this.#start = (this.#start + 1) % this.#size;
    }
    for (const client of this.#clients) {
      if (wanted(client, event.type)) this.#send(client, this.#frame(item));
    }
  }

  #ordered(): FeedItem[] {
    return this.#start === 0 ? this.#buffer : [...this.#buffer.slice(this.#start), ...this.#buffer.slice(0, this.#start)];
  }

  #ping(): void {
    for (const client of this.#clients) this.#send(client, PING_FRAME);
  }

  /**
   * A client that stopped reading is dropped (it reconnects and resumes with Last-Event-ID) instead of buffering
   * forever: unsent bytes stay under 1 MiB per client and 32 MiB over all of them (plus one frame each).
   */
  #send(client: Client, frame: string): void {
    if (client.res.writableLength > Math.min(MAX_UNSENT_BYTES, MAX_TOTAL_UNSENT_BYTES / this.#clients.size)) {
      this.#clients.delete(client);
      client.res.destroy();
      return;
    }
    client.res.write(frame);
  }
}

function parseTypes(raw: string | null): ReadonlySet<string> | null {
  if (raw === null || raw.trim() === '') return null;
  return new Set(
    raw
      .split(',')
      .map((type) => type.trim())
      .filter(Boolean),
  );
}

function wanted(client: Client, type: string): boolean {
  return client.types ? client.types.has(type) : !DEFAULT_EXCLUDED.has(type);
}
