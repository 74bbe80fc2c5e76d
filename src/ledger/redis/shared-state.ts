// The shared state on Redis: keys under the ledger's hash tag, each write one script that also publishes the change.
import { createHash } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { LedgerUnreachableError } from '../ledger.ts';
import { clusterSeeds, RedisConnection, type RedisStateChange } from './connection.ts';
import { SHARED_STATE_VERSION, sharedNamespace } from './layout.ts';
import { RESYNC_ALL, type SharedScript, type SharedState } from '../shared-state.ts';

const COUNT = `local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;
const PUT = `if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) else redis.call('SET', KEYS[1], ARGV[1]) end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1`;
const CLAIM = `if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then
  redis.call('PUBLISH', ARGV[3], ARGV[4])
  return 1
end
return 0`;
const DELETE = `redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1`;

type Script = (...args: (string | number)[]) => Promise<unknown>;

export interface RedisSharedStateOptions {
  readonly url: string;
  /** The ledger's key prefix: keys are `{<prefix>}:shared:v1:(v|n):<key>`, one hash tag with the ledger's. */
  readonly keyPrefix: string;
  /** A Redis Cluster (`url` lists seed nodes): the keys share one hash tag, so one slot. */
  readonly cluster?: boolean;
  readonly commandTimeoutMs?: number;
  readonly onStateChange?: (change: RedisStateChange) => void;
}

export class RedisSharedState implements SharedState {
  /** Values under `{prefix}:shared:v1:v:`, counters under `{prefix}:shared:v1:n:` (a counter and a value may share a name). */
  private readonly namespace: string;
  private readonly counters: string;
  private readonly channel: string;
  private readonly listeners = new Set<(key: string) => void>();
  private readonly scripts: Record<'count' | 'put' | 'claim' | 'delete', Script>;
  private subscribedOnce = false;
  private closed = false;

  constructor(
    private readonly connection: RedisConnection,
    private readonly subscriber: Redis | Cluster,
    private readonly keyPrefix: string,
  ) {
    const namespace = sharedNamespace(keyPrefix); // the key layout (layout.ts): every shared key starts with it
    this.namespace = `${namespace}v:`;
    this.counters = `${namespace}n:`;
    this.channel = namespace.slice(0, -1);
    const client = connection.client;
    const define = (name: string, lua: string): Script => {
      const command = `tollgateShared_${name}_v${SHARED_STATE_VERSION}`;
      client.defineCommand(command, { numberOfKeys: 1, lua });
      const callable = (client as unknown as Record<string, Script>)[command];
      return (...args) => callable.call(client, ...args);
    };
    this.scripts = { count: define('count', COUNT), put: define('put', PUT), claim: define('claim', CLAIM), delete: define('delete', DELETE) };
    subscriber.on('message', (channel: string, key: string) => {
      if (channel === this.channel) this.notify(key);
    });
    // after a reconnection (ioredis subscribes again by itself) announcements may have been missed
    subscriber.on('ready', () => {
      if (this.subscribedOnce) this.notify(RESYNC_ALL);
      this.subscribedOnce = true;
    });
  }

  async count(key: string, windowMs: number): Promise<number> {
    return Number(await this.command(() => this.scripts.count(this.counters + key, Math.max(1, Math.ceil(windowMs))), this.counters));
  }

  async put(key: string, value: string, ttlMs: number | null): Promise<void> {
    const ttl = ttlMs === null ? 0 : Math.max(1, Math.ceil(ttlMs));
    await this.command(() => this.scripts.put(this.namespace + key, value, ttl, this.channel, key), this.namespace);
  }

  async get(keys: readonly string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return [];
    return this.command(() => this.connection.client.mget(...keys.map((key) => this.namespace + key)), this.namespace);
  }

  async claim(key: string, value: string, ttlMs: number): Promise<boolean> {
    const ttl = Math.max(1, Math.ceil(ttlMs));
    return Number(await this.command(() => this.scripts.claim(this.namespace + key, value, ttl, this.channel, key), this.namespace)) === 1;
  }

  async delete(key: string): Promise<void> {
    await this.command(() => this.scripts.delete(this.namespace + key, this.channel, key), this.namespace);
  }

  /**
   * Values and scripts share the namespace (one hash tag: one slot, so a script may name any number of keys); a call for
   * a budget group names its keys under the group's namespace (sharedNamespace), in that group's slot.
   */
  script(lua: string): SharedScript {
    const sha = createHash('sha1').update(lua).digest('hex');
    const client = this.connection.client;
    // EVALSHA, a built-in command, not a defineCommand per key count: ioredis copies the defined commands into each
    // auto-pipeline when it creates it, so a command first defined while one was pending was missing from it, and its
    // exec then threw "results[i] is not iterable" outside any promise (an uncaught exception). EVALSHA's keys are
    // known to ioredis, so a Cluster routes the call by its first key. NOSCRIPT (a restarted or flushed server): the
    // script did not run, so it is sent once with its text, which also loads it.
    const run = async (keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> => {
      try {
        return await client.evalsha(sha, keys.length, ...keys, ...args);
      } catch (error) {
        if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
        return client.eval(lua, keys.length, ...keys, ...args);
      }
    };
    return (keys, args, group = null) => {
      const namespace = group === null ? this.namespace : `${sharedNamespace(this.keyPrefix, group)}v:`;
      return this.command(
        () =>
          run(
            keys.map((key) => namespace + key),
            args,
          ),
        namespace,
      );
    };
  }

  subscribe(listener: (key: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.subscriber.disconnect();
    await this.connection.close();
  }

  /** Subscribes to the change channel (the subscriber connection queues it until connected). */
  async start(): Promise<void> {
    this.subscriber.connect().catch(() => {}); // reconnects by itself, and subscribes again once ready
    const subscribed = this.subscriber.subscribe(this.channel).catch(() => {});
    await this.connection.start();
    if (this.connection.isUp) await subscribed; // Redis down at start-up: the subscription comes when it does
  }

  private notify(key: string): void {
    for (const listener of this.listeners) {
      try {
        listener(key);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  /** `namespace`: the keys' (its hash tag names the Cluster master whose fail-fast applies: RedisConnection.send). */
  private async command<T>(send: () => Promise<T>, namespace: string): Promise<T> {
    if (this.closed) throw new Error('shared state is closed');
    if (!this.connection.isUp) throw new LedgerUnreachableError(`shared state unavailable: ${this.connection.describeDown()}`);
    return this.connection.send(send, namespace);
  }
}

/** Connects (waiting for the first attempt only); while Redis is down, operations reject and subscribers wait. */
export async function createRedisSharedState(options: RedisSharedStateOptions): Promise<RedisSharedState> {
  const connection = new RedisConnection({
    url: options.url,
    cluster: options.cluster,
    commandTimeoutMs: options.commandTimeoutMs,
    onStateChange: options.onStateChange,
  });
  const reconnect = { connectTimeout: 1000, maxRetriesPerRequest: null, retryStrategy: (attempt: number) => Math.min(50 * attempt, 1000) };
  const seeds = options.cluster ? clusterSeeds(options.url) : null;
  const subscriber = seeds
    ? new Cluster(seeds.nodes, { lazyConnect: true, redisOptions: { ...reconnect, ...seeds.auth } })
    : new Redis(options.url, { lazyConnect: true, ...reconnect });
  subscriber.on('error', () => {}); // the command connection reports state; this one only reconnects
  const state = new RedisSharedState(connection, subscriber, options.keyPrefix);
  await state.start();
  return state;
}
