// The live feed for the dashboard: bus events kept in a bounded replay buffer and streamed to SSE clients.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventBus, ProxyEvent } from '../observability/events.ts';
import { redactSecrets } from '../observability/redact.ts';

export interface EventFeedOptions {
  readonly bus: EventBus;
  /** Events kept for replay to a client that connects (or reconnects) later. Default 500. */
  readonly bufferSize?: number;
  /** Interval of the `: ping` comment that keeps idle connections open. Default 15 s. */
  readonly heartbeatMs?: number;
}

interface FeedItem {
  readonly id: number;
  readonly type: string;
  /** The `id:` + `data:` block, serialised once for every client. */
  readonly frame: string;
}

interface Client {
  readonly res: ServerResponse;
  readonly types: ReadonlySet<string> | null;
}

/** Every type but `request` (one per upstream attempt; noise on a dashboard) unless the client asks for it. */
const DEFAULT_EXCLUDED = new Set(['request']);
const DEFAULT_BUFFER = 500;
const DEFAULT_HEARTBEAT_MS = 15_000;
const MAX_UNSENT_BYTES = 1 << 20;

export class EventFeed {
  readonly #buffer: FeedItem[] = [];
  readonly #size: number;
  readonly #clients = new Set<Client>();
  readonly #unsubscribe: () => void;
  readonly #heartbeat: NodeJS.Timeout;
  #nextId = 1;
  #closed = false;

  constructor(options: EventFeedOptions) {
    this.#size = Math.max(1, options.bufferSize ?? DEFAULT_BUFFER);
    this.#unsubscribe = options.bus.subscribe((event) => this.#publish(event));
    this.#heartbeat = setInterval(() => this.#ping(), options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  get clientCount(): number {
    return this.#clients.size;
  }

  /** Starts an SSE stream: replays buffered events (after Last-Event-ID, up to `replay`), then streams live ones. */
  open(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): void {
    const types = parseTypes(query.get('types'));
    const lastId = Number(req.headers['last-event-id'] ?? query.get('last_event_id') ?? 0) || 0;
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
    const backlog = this.#buffer.filter((item) => item.id > lastId && wanted(client, item.type));
    res.write(`retry: 3000\n\n${backlog.slice(Math.max(0, backlog.length - replay)).map((item) => item.frame).join('')}`);
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
    return this.#buffer.map(({ id, type }) => ({ id, type }));
  }

  #publish(event: ProxyEvent): void {
    const id = this.#nextId++;
    const data = JSON.stringify(redactSecrets(event));
    const item: FeedItem = { id, type: event.type, frame: `id: ${id}\ndata: ${data}\n\n` };
    this.#buffer.push(item);
    if (this.#buffer.length > this.#size) this.#buffer.splice(0, this.#buffer.length - this.#size);
    for (const client of this.#clients) {
      if (wanted(client, item.type)) this.#send(client, item.frame);
    }
  }

  #ping(): void {
    for (const client of this.#clients) this.#send(client, ': ping\n\n');
  }

  /** A client that stopped reading is dropped (it reconnects and resumes with Last-Event-ID) instead of buffering forever. */
  #send(client: Client, frame: string): void {
    if (client.res.writableLength > MAX_UNSENT_BYTES) {
      this.#clients.delete(client);
      client.res.destroy();
      return;
    }
    client.res.write(frame);
  }
}

function parseTypes(raw: string | null): ReadonlySet<string> | null {
  if (raw === null || raw.trim() === '') return null;
  return new Set(raw.split(',').map((type) => type.trim()).filter(Boolean));
}

function wanted(client: Client, type: string): boolean {
  return client.types ? client.types.has(type) : !DEFAULT_EXCLUDED.has(type);
}
