// Test support for the Redis ledger: the shared Redis (REDIS_URL, failing when absent), key clean-up, private Redis and Cluster.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { createRedisLedger, type RedisLedger, type RedisLedgerOptions } from '../../../src/ledger/redis/ledger.ts';
import { prefixPatterns } from '../../../src/ledger/redis/layout.ts';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix no other test uses. */
export function uniquePrefix(label: string): string {
  return `tollgate-test-${label}-${randomUUID().slice(0, 8)}`;
}

/** Fails (never skips) when the test Redis is not reachable. */
export async function requireRedis(url = REDIS_URL): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    assert.equal(await client.ping(), 'PONG');
  } catch (error) {
    assert.fail(`Redis is required for these tests and is not reachable at ${url} (set REDIS_URL): ${(error as Error).message}`);
  } finally {
    client.disconnect();
  }
}

/** Deletes every key of a ledger prefix (its own hash tag and its budget groups'). */
export async function dropPrefix(prefix: string, url = REDIS_URL): Promise<void> {
  const client = new Redis(url);
  try {
    for (const pattern of prefixPatterns(prefix)) {
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await client.del(...keys);
      } while (cursor !== '0');
    }
  } finally {
    client.disconnect();
  }
}

/** Every key of a prefix with its PTTL (-1 = no expiry). */
export async function keysWithTtl(prefix: string, url = REDIS_URL): Promise<Map<string, number>> {
  const client = new Redis(url);
  try {
    const keys = await client.keys(`{${prefix}}:*`);
    const found = new Map<string, number>();
    for (const key of keys) found.set(key, await client.pttl(key));
    return found;
  } finally {
    client.disconnect();
  }
}

/** A ledger on the shared Redis under a fresh prefix; cleanup closes it and deletes its keys. */
export async function makeTestLedger(
  label: string,
  options: Partial<RedisLedgerOptions> = {},
): Promise<{ ledger: RedisLedger; prefix: string; cleanup: () => Promise<void> }> {
  const prefix = options.keyPrefix ?? uniquePrefix(label);
  const ledger = await createRedisLedger({ url: REDIS_URL, ...options, keyPrefix: prefix });
  return {
    ledger,
    prefix,
    cleanup: async () => {
      await ledger.close();
      await dropPrefix(prefix);
    },
  };
}

/** Polls until `probe` is true; fails with `what` after `deadlineMs` (a guard against hanging, not a timing assertion). */
export async function waitFor(what: string, probe: () => Promise<boolean>, deadlineMs = 15_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (await probe()) return;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}`);
}

/**
 * A free loopback port below the OS ephemeral range (Linux default 32768-60999). A port the OS hands out for port 0 or
 * an outgoing connection could be taken by another test while our private Redis is down; these never are.
 */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await canListen(port)) return port;
  }
  throw new Error('no free port in 20000-31999');
}

/**
 * A port for a Cluster node: free, and its cluster bus port (port + 10000) free too. Drawn from 20000-22767, so the bus
 * port stays below Linux's ephemeral range (32768 up), where an outgoing connection could take it between the check
 * and the node's start.
 */
async function freeClusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 2_768);
    if ((await canListen(port)) && (await canListen(port + 10_000))) return port;
  }
  throw new Error('no free cluster port (and bus port) in 20000-22767');
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A private Redis on a free loopback port, without persistence, that a test may kill, pause and restart. */
export class PrivateRedis {
  private child: ChildProcess | null = null;

  private constructor(
    readonly port: number,
    private readonly password: string | null,
  ) {}

  /** With a password, clients must authenticate (the URL carries it). */
  static async start(options: { password?: string } = {}): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort(), options.password ?? null);
    await redis.restart();
    return redis;
  }

  get url(): string {
    return this.password === null ? `redis://127.0.0.1:${this.port}` : `redis://:${this.password}@127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== null;
  }

  async restart(): Promise<void> {
    if (this.child) throw new Error('private redis is already running');
    const auth = this.password === null ? [] : ['--requirepass', this.password];
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', ...auth];
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    this.child = child;
    child.once('exit', () => {
      if (this.child === child) this.child = null;
    });
    await waitFor(`redis-server on port ${this.port}`, () => pings(this.url));
  }

  /** SIGKILL (its data is gone: nothing is persisted) and wait for the exit. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    this.child = null;
  }

  /** SIGSTOP / SIGCONT: a Redis that accepts connections but never answers. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** Pauses it and waits until the kernel shows it stopped (state T), so nothing sent from now on is answered. */
  async pauseFully(): Promise<void> {
    this.pause();
    const pid = this.child?.pid;
    await waitFor('redis-server to be stopped', async () => pid !== undefined && / T /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')));
  }
}

/** Cluster settings a test may change (the defaults: redis-server's). */
export interface PrivateClusterOptions {
  /** `cluster-node-timeout`: how long a master may be silent before the others mark it failed (default 15,000 ms). */
  readonly nodeTimeoutMs?: number;
  /** `cluster-require-full-coverage` (default true: with a master failed, the whole Cluster answers CLUSTERDOWN). */
  readonly requireFullCoverage?: boolean;
}

/** A private three-master Redis Cluster on free loopback ports (no replicas, no persistence). */
export class PrivateCluster {
  private constructor(
    readonly ports: readonly number[],
    private readonly children: readonly ChildProcess[],
    private readonly dir: string,
  ) {}

  static async start(options: PrivateClusterOptions = {}): Promise<PrivateCluster> {
    const settings = [
      ...(options.nodeTimeoutMs === undefined ? [] : ['--cluster-node-timeout', String(options.nodeTimeoutMs)]),
      ...(options.requireFullCoverage === undefined ? [] : ['--cluster-require-full-coverage', options.requireFullCoverage ? 'yes' : 'no']),
    ];
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-cluster-'));
    const ports: number[] = [];
    while (ports.length < 3) {
      const port = await freeClusterPort();
      if (!ports.includes(port)) ports.push(port);
    }
    const children = ports.map((port) =>
      spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--dir',
          dir,
          '--save',
          '',
          '--appendonly',
          'no',
          ...settings,
        ],
        { stdio: 'ignore' },
      ),
    );
    const cluster = new PrivateCluster(ports, children, dir);
    try {
      for (const port of ports) await waitFor(`cluster node ${port}`, () => pings(`redis://127.0.0.1:${port}`));
    } catch (error) {
      await cluster.stop(); // the nodes that did start would keep the test file alive to its timeout
      throw error;
    }
    try {
      const seeds = ports.map((port) => `127.0.0.1:${port}`);
      await promisify(execFile)('redis-cli', ['--cluster', 'create', ...seeds, '--cluster-replicas', '0', '--cluster-yes']);
      await cluster.waitUntilOk();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** Waits until every node running says `cluster_state:ok` (after a start, or a failed master's return). */
  async waitUntilOk(deadlineMs = 30_000): Promise<void> {
    for (const port of this.ports) {
      await waitFor(`cluster state ok on ${port}`, async () => (await nodeCommand(port, 'INFO')).includes('cluster_state:ok'), deadlineMs);
    }
  }

  /** Waits until every other node's CLUSTER NODES marks the master at `port` `fail` (not only `fail?`, its own suspicion). */
  async waitUntilFailed(port: number, deadlineMs = 30_000): Promise<void> {
    for (const other of this.ports.filter((each) => each !== port)) {
      await waitFor(
        `node ${other} to mark master ${port} failed`,
        async () => {
          const line = (await nodeCommand(other, 'NODES')).split('\n').find((entry) => entry.includes(`127.0.0.1:${port}@`));
          return line?.split(' ')[2].split(',').includes('fail') ?? false;
        },
        deadlineMs,
      );
    }
  }

  /** Seed URL for the ledger's cluster mode. */
  get url(): string {
    return `redis://${this.ports.map((port) => `127.0.0.1:${port}`).join(',')}`;
  }

  /** The port of the master that serves a key's slot. */
  async portOf(key: string): Promise<number> {
    const client = new Redis(`redis://127.0.0.1:${this.ports[0]}`);
    try {
      const slot = Number(await client.call('CLUSTER', 'KEYSLOT', key));
      const ranges = (await client.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      if (!range) throw new Error(`no master serves slot ${slot}`);
      return Number(range[2][1]);
    } finally {
      client.disconnect();
    }
  }

  /** SIGSTOPs one node and waits until the kernel shows it stopped (state T): it keeps its connections, answers nothing. */
  async pauseFully(port: number): Promise<void> {
    const child = this.children[this.ports.indexOf(port)];
    const pid = child?.pid;
    if (pid === undefined) throw new Error(`no cluster node on port ${port}`);
    child.kill('SIGSTOP');
    await waitFor(`cluster node ${port} to be stopped`, async () => / T /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')));
  }

  /** `cluster_state` as one node sees it: `ok`, `fail`, or '' when it does not answer. */
  async stateOn(port: number): Promise<string> {
    return /cluster_state:(\w+)/.exec(await nodeCommand(port, 'INFO'))?.[1] ?? '';
  }

  /** SIGCONTs one node. */
  resume(port: number): void {
    this.children[this.ports.indexOf(port)]?.kill('SIGCONT');
  }

  /** SIGCONTs every node still running (nothing for one not stopped): for clean-up after any pause. */
  resumeAll(): void {
    for (const child of this.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGCONT');
  }

  /** Keys held by each node, by port. */
  async keyCounts(): Promise<Map<number, number>> {
    const counts = new Map<number, number>();
    for (const port of this.ports) {
      const client = new Redis(`redis://127.0.0.1:${port}`);
      try {
        counts.set(port, await client.dbsize());
      } finally {
        client.disconnect();
      }
    }
    return counts;
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.children.map((child) => {
        if (child.exitCode !== null || child.signalCode !== null) return undefined;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        return exited;
      }),
    );
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** CLUSTER <sub> on one node ('' when it does not answer within a second, e.g. while it is stopped). */
async function nodeCommand(port: number, sub: 'INFO' | 'NODES'): Promise<string> {
  const client = new Redis(`redis://127.0.0.1:${port}`, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, commandTimeout: 1000 });
  client.on('error', () => {});
  try {
    await client.connect();
    return String(await client.cluster(sub as 'INFO'));
  } catch {
    return '';
  } finally {
    client.disconnect();
  }
}

/** A command's end as it stands now (read after moving a mocked clock: a command still waiting reads `done: false`). */
export function watch<T>(promise: Promise<T>): { done: boolean; value: T | undefined; error: unknown } {
  const state: { done: boolean; value: T | undefined; error: unknown } = { done: false, value: undefined, error: null };
  promise.then(
    (value) => Object.assign(state, { done: true, value }),
    (error: unknown) => Object.assign(state, { done: true, error }),
  );
  return state;
}

/** True when a Redis at `url` answers PING. */
export async function pings(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}
