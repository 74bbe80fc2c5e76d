// The Redis ledger's connection: fail-fast ioredis client (no offline queue, no resend), reconnect forever, state for health.
import { Cluster, Redis, ReplyError, type ClusterNode, type RedisOptions } from 'ioredis';
import calculateSlot from 'cluster-key-slot';
import { LedgerOutcomeUnknownError, LedgerUnreachableError } from '../ledger.ts';
import { Silences, type SilenceVerdict } from './silence.ts';

export type RedisLedgerState = 'up' | 'down';

export interface RedisStateChange {
  readonly state: RedisLedgerState;
  /** Why it is down: host:port and the error, never credentials. */
  readonly detail?: string;
}

export interface RedisConnectionOptions {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://…`; with `cluster`, comma-separated `host:port` seeds are allowed. */
  readonly url: string;
  /** Connect to a Redis Cluster (every ledger key carries one hash tag, so it all lives in one slot). */
  readonly cluster?: boolean;
  /** A command without a reply after this long is rejected (a hung Redis); default 1000 ms. */
  readonly commandTimeoutMs?: number;
  /** TCP connect timeout; default 1000 ms. */
  readonly connectTimeoutMs?: number;
  readonly onStateChange?: (change: RedisStateChange) => void;
}

export class RedisConnection {
  readonly client: Redis | Cluster;
  /** host:port list, safe to log. */
  readonly target: string;
  /** A command without a reply after this long is rejected (its outcome then unknown). */
  readonly commandTimeoutMs: number;
  private state: RedisLedgerState = 'down';
  private lastError = 'not connected yet';
  private closing = false;
  private readonly onStateChange: ((change: RedisStateChange) => void) | undefined;
  /**
   * Once a command went unanswered for its whole timeout, its server is taken as stalled until a reply comes: one command
   * at a time goes out to it as the probe (it waits its timeout), every other for it fails at once, unsent
   * (LedgerUnreachableError: the fail mode applies, a settlement goes to the backlog). A stalled Redis so costs a call
   * nothing (fail open) or a fast 503 (closed), where each command used to wait its full timeout; the first reply, or a
   * reconnection, ends it. On a Cluster per master: a command's master is the one the slot map names for its key's slot,
   * so one stalled master fails only its own slots' commands (test/unit/ledger/redis-cluster-stall.test.ts); a command
   * sent without a key, or for a slot the map does not hold, is always sent.
   */
  private readonly silences = new Silences();

  constructor(options: RedisConnectionOptions) {
    this.onStateChange = options.onStateChange;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 1000;
    const common: RedisOptions = {
      lazyConnect: true,
      // Fail fast: nothing waits for a connection, nothing is re-sent after one drops (a script may have run).
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: this.commandTimeoutMs,
      connectTimeout: options.connectTimeoutMs ?? 1000,
      retryStrategy: (attempt) => Math.min(50 * attempt, 1000),
      enableAutoPipelining: true,
    };
    if (options.cluster) {
      const seeds = parseSeeds(options.url);
      this.target = seeds.map((seed) => `${seed.host}:${seed.port}`).join(',');
      this.client = new Cluster(
        seeds.map(({ host, port }) => ({ host, port }) as ClusterNode),
        {
          lazyConnect: true,
          enableOfflineQueue: false,
          enableAutoPipelining: true,
          clusterRetryStrategy: (attempt) => Math.min(50 * attempt, 1000),
          // CLUSTERDOWN (a master marked failed, with `cluster-require-full-coverage yes`) is refused at once: ioredis
          // would resend it every 100 ms up to 16 times, so each command waited its whole timeout to end "outcome
          // unknown", and could still run after it. Refused before running, it is unreachable (docs/deploy.md).
          retryDelayOnClusterDown: 0,
          redisOptions: { ...common, username: seeds[0].username, password: seeds[0].password, tls: seeds[0].tls ? {} : undefined },
        },
      );
    } else {
      const parsed = new URL(options.url);
      if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new TypeError('redis ledger: the URL must start with redis:// or rediss://');
      this.target = `${parsed.hostname}:${parsed.port || '6379'}`;
      this.client = new Redis(options.url, common);
    }
    this.client.on('ready', () => {
      this.silences.forget(); // a fresh connection answered its handshake
      this.transition('up');
    });
    if (this.client instanceof Cluster) {
      // a master's own fresh connection answered its handshake, or it left the Cluster (failed over, removed): its
      // silence ends (a slot moved to another master is served by that one's state, by the slot map)
      const nodeKey = (redis: Redis) => `${redis.options.host}:${redis.options.port}`;
      this.client.on('+node', (redis: Redis) => redis.on('ready', () => this.silences.forget(nodeKey(redis))));
      this.client.on('-node', (redis: Redis) => this.silences.forget(nodeKey(redis)));
    }
    this.client.on('error', (error: Error) => {
      this.lastError = safeMessage(error);
    });
    this.client.on('close', () => this.transition('down'));
    this.client.on('end', () => this.transition('down'));
  }

  /** Starts connecting; resolves when ready or when the first attempt failed (reconnecting continues in the background). */
  async start(): Promise<void> {
    try {
      await this.client.connect();
      // A Cluster resolves connect() before it emits 'ready'.
      if (this.client.status === 'ready') this.transition('up');
    } catch (error) {
      this.lastError = safeMessage(error as Error);
    }
  }

  get isUp(): boolean {
    return !this.closing && this.client.status === 'ready';
  }

  /** Why the connection is down, for health and errors. */
  describeDown(): string {
    return `redis ${this.target} ${this.client.status}: ${this.lastError}`;
  }

  /**
   * On a Cluster, the masters that do not answer a PING within the command timeout (`host:port`, never credentials);
   * empty on a single Redis, whose own silence the caller's command shows. A stalled master stops only its own budget
   * groups, so health reports it without calling the whole ledger down (docs/deploy.md).
   */
  async silentMasters(): Promise<string[]> {
    if (!(this.client instanceof Cluster)) return [];
    const masters = this.client.nodes('master');
    const silent = await Promise.all(
      masters.map((node) =>
        this.sendTo(`${node.options.host}:${node.options.port}`, () => node.ping()).then(
          () => null,
          () => `${node.options.host}:${node.options.port}`,
        ),
      ),
    );
    return silent.filter((address): address is string => address !== null);
  }

  /**
   * Sends a command (or a few, e.g. a script call that loads the library first) and waits `commandTimeoutMs` at most,
   * counted from now; failures are mapped by `failure`. ioredis's own timeout starts only when it writes the command,
   * and with auto-pipelining a command issued while an earlier pipeline waits for its replies is held unsent until
   * that one ends: on a stalled Redis each command waited up to two timeouts (a settle 2 s, not 1, the answer of the
   * call with it). Rejected here, such a command may still be sent when the earlier one gives up, and run when Redis
   * resumes: its outcome is unknown, as for one sent and not answered (resolved by id: docs/deploy.md). `key`: a key of
   * the command, or any text with its hash tag (a namespace); on a Cluster it names the master whose silence applies.
   */
  send<T>(send: () => Promise<T>, key?: string): Promise<T> {
    return this.sendTo(this.serverOf(key), send);
  }

  /** The server a command for `key` goes to: the single Redis, or the master serving the key's slot (null: unknown). */
  private serverOf(key: string | undefined): string | null {
    if (!(this.client instanceof Cluster)) return this.target;
    if (key === undefined) return null;
    return this.client.slots[calculateSlot(key)]?.[0] ?? null;
  }

  private async sendTo<T>(server: string | null, send: () => Promise<T>): Promise<T> {
    const verdict: SilenceVerdict = this.silences.enter(server);
    if (verdict === 'refuse') throw this.silentError(server as string);
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    let end: 'answered' | 'timedOut' | 'failed' = 'failed';
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new Error('Command timed out'));
      }, this.commandTimeoutMs);
    });
    try {
      const reply = await Promise.race([send(), deadline]);
      end = 'answered';
      return reply;
    } catch (error) {
      if (timedOut) end = 'timedOut';
      else if (error instanceof ReplyError) end = 'answered'; // Redis answered, with an error
      throw this.failure(error);
    } finally {
      clearTimeout(timer);
      this.silences.settled(server, verdict, end);
    }
  }

  private silentError(server: string): LedgerUnreachableError {
    const which = this.client instanceof Cluster ? `${this.target}, master ${server}` : this.target;
    return new LedgerUnreachableError(`redis ledger unavailable (${which}): no reply for ${this.silences.silentFor(server)} ms; not sent while a probe waits`);
  }

  /**
   * Wraps a command failure in an error naming the target (never the URL's credentials) that says what is known: nothing
   * ran (LedgerUnreachableError: not sent, or a reserve that ran after its deadline and held nothing), Redis answered
   * with an error (nothing changed), or no reply came (LedgerOutcomeUnknownError: it may have run, or may still run).
   */
  failure(error: unknown): Error {
    const message = safeMessage(error as Error);
    // a reserve run too late, or a check on a budget moving between groups: nothing ran, the same call may be tried again
    if (/^TOLLGATE_(LATE|MOVING|MOVED)\b/.test(message))
      return new LedgerUnreachableError(`redis ledger unavailable (${this.target}): ${message.replace(/^TOLLGATE_\w+ /, '')}`);
    if (message.startsWith('TOLLGATE_')) return new Error(`redis ledger: ${message.replace(/^TOLLGATE_\w+ /, '')}`);
    // ioredis refused to send it (the connection went down between our check and the call): nothing ran
    if (message.includes('enableOfflineQueue')) return new LedgerUnreachableError(`redis ledger unavailable (${this.target}): not connected`);
    // a Cluster that lost a master (no replica to promote) refuses every command before running it: nothing ran
    if (error instanceof ReplyError && message.startsWith('CLUSTERDOWN'))
      return new LedgerUnreachableError(`redis ledger unavailable (${this.target}): ${message} (nothing ran)`);
    if (error instanceof ReplyError) return new Error(`redis ledger error (${this.target}): ${message}`);
    return new LedgerOutcomeUnknownError(`redis ledger unavailable (${this.target}): ${message} (outcome unknown)`);
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    try {
      if (this.client.status === 'ready') await this.client.quit();
      else this.client.disconnect();
    } catch {
      this.client.disconnect();
    }
    this.transition('down');
  }

  private transition(state: RedisLedgerState): void {
    if (state === this.state) return;
    this.state = state;
    if (state === 'down' && this.closing) this.lastError = 'closed';
    this.onStateChange?.(state === 'up' ? { state } : { state, detail: this.describeDown() });
  }
}

interface Seed {
  host: string;
  port: number;
  username?: string;
  password?: string;
  tls: boolean;
}

/** A Cluster's seed nodes and the credentials and TLS every node connection uses, from `redis://[cred@]h1:p1,h2:p2`. */
export function clusterSeeds(url: string): { readonly nodes: ClusterNode[]; readonly auth: Pick<RedisOptions, 'username' | 'password' | 'tls'> } {
  const seeds = parseSeeds(url);
  return {
    nodes: seeds.map(({ host, port }) => ({ host, port }) as ClusterNode),
    auth: { username: seeds[0].username, password: seeds[0].password, tls: seeds[0].tls ? {} : undefined },
  };
}

/** Cluster seeds from `redis://[cred@]h1:p1,h2:p2` (credentials and TLS taken from the first). */
function parseSeeds(url: string): Seed[] {
  const match = /^(rediss?):\/\/(?:([^@/]*)@)?([^/]+)/.exec(url);
  if (!match) throw new TypeError('redis ledger: the cluster URL must look like redis://host:port[,host:port…]');
  const [, scheme, credentials, hosts] = match;
  const [username, password] = credentials ? splitCredentials(credentials) : [undefined, undefined];
  return hosts.split(',').map((entry) => {
    const at = entry.lastIndexOf(':');
    const host = at > 0 ? entry.slice(0, at) : entry;
    const port = at > 0 ? Number(entry.slice(at + 1)) : 6379;
    if (!host || !Number.isInteger(port)) throw new TypeError('redis ledger: bad cluster seed in the URL');
    return { host, port, username, password, tls: scheme === 'rediss' };
  });
}

function splitCredentials(credentials: string): [string | undefined, string | undefined] {
  const colon = credentials.indexOf(':');
  if (colon < 0) return [undefined, decodeURIComponent(credentials)];
  return [decodeURIComponent(credentials.slice(0, colon)) || undefined, decodeURIComponent(credentials.slice(colon + 1))];
}

/** An error message without anything that looks like a URL with credentials. */
function safeMessage(error: Error | undefined): string {
  const message = error?.message ?? String(error);
  return message.replace(/\b(rediss?):\/\/[^@\s/]*@/g, '$1://***@');
}
