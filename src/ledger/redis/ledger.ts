// The shared ledger for N replicas: the Ledger interface on Redis, each operation one atomic Redis function on Redis time.
import type { Amounts, ClaimResult, Ledger, LedgerHealth, LimitCheck, LimitStanding, ReserveInput, ReserveOutcome, SettleInput } from '../ledger.ts';
import { LEDGER_RETENTION_MS, LedgerUnreachableError, TOMBSTONE_MS } from '../ledger.ts';
import { toRow } from '../amounts.ts';
import { bucketLevels, type BucketLevel } from '../bucket-levels.ts';
import { layoutSignature, packedLevels } from './layout.ts';
import { GroupRouter, type GroupNamespace } from './routing.ts';
import { GroupMover } from './group-mover.ts';
import type { GroupMap } from '../budget-groups.ts';
import { defineLedgerScripts, loadLedgerLibrary, type LedgerScripts, type ScriptName } from './scripts.ts';
import { RedisConnection, type RedisStateChange } from './connection.ts';
import { ServerClock } from './clock.ts';
import {
  decodeReserve,
  reserveReplyTime,
  decodeStandings,
  recordPayload,
  releasePayload,
  reservePayload,
  settlePayload,
  standingPayload,
  type RecordEntry,
  type ScriptArgs,
} from './codec.ts';

export type { RedisStateChange } from './connection.ts';
export type { RecordEntry } from './codec.ts';

export interface RedisLedgerOptions {
  /** `redis://[user:pass@]host:port[/db]` (or `rediss://`); with `cluster`, `redis://h1:p1,h2:p2`. */
  readonly url: string;
  /** Hash tag of every key (default `tollgate`): one slot per prefix; separate fleets use separate prefixes. */
  readonly keyPrefix?: string;
  /** Finest bucket (default 1000 ms): Retry-After and reset are exact to it for windows up to 24 min at the default. */
  readonly bucketMs?: number;
  /** Usage older than this is dropped (default 35 days, as the embedded ledger); must exceed the longest window. */
  readonly retentionMs?: number;
  readonly cluster?: boolean;
  /**
   * The budget groups (from the policies; read on every call, so a reload takes effect at once): each group's keys get
   * their own hash tag, and a Cluster spreads the groups over its shards. Absent: every key under the prefix's one tag.
   */
  readonly groups?: () => GroupMap | null;
  /** A command without a reply after this long fails (default 1000 ms). */
  readonly commandTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  /** How long an ended reservation id is remembered in Redis (default 10 min): retries and late reserves are no-ops. */
  readonly tombstoneMs?: number;
  /** Called on every up/down transition (log it, emit a metric); reconnection is automatic. */
  readonly onStateChange?: (change: RedisStateChange) => void;
  /** Problems that do not stop the ledger (a budget's move between groups failed; the next reload tries again). */
  readonly onWarning?: (message: string) => void;
}

/** Entries per record script call when re-seeding from history. */
const RECORD_BATCH = 500;
/**
 * Checks per standing script call: a call unpacks its checks' numbers at once (7 each; Lua's stack holds about 8,000
 * values), and a bounded call keeps Redis free for reserves meanwhile (the admin summary asks for 5 per agent).
 */
const STANDING_BATCH = 256;

export class RedisLedger implements Ledger {
  /** The prefix's own keys start with this: `{<prefix>}:v<version>:` (with groups, each group's under its own tag). */
  readonly namespace: string;
  readonly levels: readonly BucketLevel[];
  private readonly router: GroupRouter;
  /** Moves a budget's state when its group changes (grouped layout only). */
  readonly mover: GroupMover;
  private readonly layoutKey: string;
  private readonly layout: string;
  private readonly packedLevels: Buffer;
  private readonly scripts: LedgerScripts;
  private readonly clock = new ServerClock();
  private readonly tombstoneMs: number;
  /** A reserve run later than this after it was sent holds nothing: 3/4 of the command timeout, so its reply still arrives in time. */
  private readonly reserveDeadlineMs: number;
  private closed = false;

  constructor(
    private readonly connection: RedisConnection,
    options: {
      readonly keyPrefix: string;
      readonly bucketMs: number;
      readonly retentionMs: number;
      readonly tombstoneMs?: number;
      readonly groups?: () => GroupMap | null;
      readonly onWarning?: (message: string) => void;
    },
  ) {
    if (!/^[\w.-]+$/.test(options.keyPrefix)) throw new TypeError('redis ledger: keyPrefix may hold letters, digits, "_", "-" and "." only');
    this.router = new GroupRouter(options.keyPrefix, options.groups ?? null);
    this.mover = new GroupMover({
      router: this.router,
      client: connection.client,
      run: (name, args, target) => this.run(name, args, target),
      command: (send) => this.command(send),
      keepMs: Math.ceil(options.tombstoneMs ?? TOMBSTONE_MS),
      onError: (error) => options.onWarning?.(`redis ledger: moving a budget to its new group failed (tried again at the next reload): ${error.message}`),
    });
    if (options.groups) this.router.follow(this.mover);
    this.namespace = this.router.home.namespace;
    this.layoutKey = this.router.home.layoutKey;
    this.levels = bucketLevels({ bucketMs: options.bucketMs, retentionMs: options.retentionMs });
    this.layout = layoutSignature(this.levels);
    this.packedLevels = packedLevels(this.levels);
    this.scripts = defineLedgerScripts(connection.client);
    this.tombstoneMs = Math.ceil(options.tombstoneMs ?? TOMBSTONE_MS);
    this.reserveDeadlineMs = Math.floor((connection.commandTimeoutMs * 3) / 4);
    connection.client.on('ready', () => {
      void this.syncClock();
      // before the first call needs it (a call that finds it missing loads it too)
      loadLedgerLibrary(connection.client).catch(() => undefined);
    });
  }

  async reserve(input: ReserveInput): Promise<ReserveOutcome> {
    const target = this.router.forScopes([...input.scopes, ...input.checks.map((check) => check.scope)]);
    const { payload, row } = reservePayload(input, this.clock.deadline(this.reserveDeadlineMs));
    this.router.remember(input.id, target);
    let reply: number[];
    try {
      reply = (await this.run('reserve', payload, target)) as number[];
    } catch (error) {
      // refused as late while we still waited (the server's clock ran ahead of our estimate): learn its time
      const late = /\(server time (\d+)\)/.exec((error as Error).message);
      if (late && error instanceof LedgerUnreachableError) this.clock.observe(Number(late[1]));
      throw error;
    }
    this.clock.observe(reserveReplyTime(reply));
    const outcome = decodeReserve(input, row, reply);
    if (!outcome.admitted) this.router.forget(input.id);
    return outcome;
  }

  async settle(input: SettleInput): Promise<boolean> {
    const row = toRow(input.amounts);
    const target = this.router.forId(input.id, input.orRecord?.scopes);
    const reply = await this.run('settle', settlePayload(input, row, this.tombstoneMs), target);
    this.router.forget(input.id);
    // 2: part of it was for a budget that moved to another group; it waits in this group's outbox until applied there
    if (reply === 2) await this.mover.drain(target);
    return reply === 1 || reply === 2;
  }

  async release(id: string, scopes?: readonly string[]): Promise<boolean> {
    const released = (await this.run('release', releasePayload(id, this.tombstoneMs), this.router.forId(id, scopes))) === 1;
    this.router.forget(id);
    return released;
  }

  async record(input: { readonly scopes: readonly string[]; readonly amounts: Amounts; readonly at: number }): Promise<void> {
    await this.recordMany([input]);
  }

  /**
   * Records many entries, RECORD_BATCH per script call (for re-seeding from history); returns how many were kept. An
   * entry whose scopes are in several budget groups is recorded in each (usage without a hold need not be atomic).
   */
  async recordMany(entries: readonly RecordEntry[]): Promise<number> {
    // per group: the parts that count an entry as kept (its first group's) and the others
    const batches = new Map<GroupNamespace, { counted: RecordEntry[]; more: RecordEntry[] }>();
    for (const entry of entries) {
      let first = true;
      for (const [target, scopes] of this.router.split(entry.scopes)) {
        let batch = batches.get(target);
        if (!batch) {
          batch = { counted: [], more: [] };
          batches.set(target, batch);
        }
        (first ? batch.counted : batch.more).push(scopes.length === entry.scopes.length ? entry : { ...entry, scopes });
        first = false;
      }
    }
    let kept = 0;
    for (const [target, { counted, more }] of batches) {
      for (const [list, counts] of [
        [counted, true],
        [more, false],
      ] as const) {
        for (let start = 0; start < list.length; start += RECORD_BATCH) {
          const [batchKept, forwarded] = (await this.run('record', recordPayload(list.slice(start, start + RECORD_BATCH)), target)) as number[];
          if (counts) kept += Number(batchKept);
          if (Number(forwarded) === 1) await this.mover.drain(target);
        }
      }
    }
    return kept;
  }

  /**
   * Standings in check order; checks of several budget groups are asked of each group at once, STANDING_BATCH checks per
   * script call (a standing is a read: its calls need not be one atomic step).
   */
  async standing(checks: readonly LimitCheck[]): Promise<LimitStanding[]> {
    if (checks.length === 0) return [];
    const byGroup = new Map<GroupNamespace, number[]>();
    checks.forEach((check, index) => {
      const target = this.router.forScopes([check.scope]);
      const list = byGroup.get(target);
      if (list) list.push(index);
      else byGroup.set(target, [index]);
    });
    const calls: [GroupNamespace, number[]][] = [];
    for (const [target, indexes] of byGroup) {
      for (let start = 0; start < indexes.length; start += STANDING_BATCH) calls.push([target, indexes.slice(start, start + STANDING_BATCH)]);
    }
    const standings: LimitStanding[] = new Array(checks.length);
    await Promise.all(
      calls.map(async ([target, indexes]) => {
        const part = indexes.map((index) => checks[index]);
        const reply = (await this.run('standing', standingPayload(part), target)) as number[];
        decodeStandings(part, reply).forEach((standing, at) => {
          standings[indexes[at]] = standing;
        });
      }),
    );
    return standings;
  }

  /**
   * When this ledger's life in Redis began (the first script call on an empty namespace; a Redis that lost its data
   * starts a new life) and the marker of the re-seed already done in this life, if any. Creates the namespace if absent.
   */
  async lifeInfo(): Promise<{ readonly bornAt: number; readonly reseeded: string | null }> {
    await this.run('standing', standingPayload([]));
    const [born, reseeded] = await this.command(() => this.connection.client.mget(`${this.namespace}born`, `${this.namespace}reseeded`), this.namespace);
    return { bornAt: Number(born), reseeded };
  }

  /**
   * SET NX PX on the server: the first replica to claim a key for its TTL wins (Redis's clock runs the TTL); the
   * others learn how long the claim still holds (PTTL).
   */
  async claimOnce(input: { readonly key: string; readonly ttlMs: number }): Promise<ClaimResult> {
    const key = `${this.namespace}claim:${input.key}`;
    const ttlMs = Math.max(1, Math.ceil(input.ttlMs));
    const client = this.connection.client;
    if ((await this.command(() => client.set(key, '1', 'PX', ttlMs, 'NX'), key)) === 'OK') return { claimed: true, heldForMs: ttlMs };
    const remaining = await this.command(() => client.pttl(key), key);
    return { claimed: false, heldForMs: Math.max(0, remaining) };
  }

  /** Claims the one re-seed of this ledger life (SET NX); false if another re-seed already claimed it. */
  async claimReseed(marker: string): Promise<boolean> {
    return (await this.command(() => this.connection.client.set(`${this.namespace}reseeded`, marker, 'NX'), this.namespace)) === 'OK';
  }

  /** Down while disconnected, while Redis does not answer, or when Redis holds another layout for this namespace. */
  async health(): Promise<LedgerHealth> {
    if (this.closed) return { ok: false, kind: 'redis', detail: 'closed' };
    if (!this.connection.isUp) return { ok: false, kind: 'redis', detail: this.connection.describeDown() };
    // on a Cluster every master is PINGed beside the layout read (each bounded by the command timeout, as every
    // command is: a load balancer's probe behind a stalled pipeline waits 1 s, not 2), so a probe waits one timeout
    const silentMasters = this.connection.silentMasters();
    let stored: string | null;
    try {
      stored = await this.connection.send(() => this.connection.client.get(this.layoutKey), this.layoutKey);
    } catch (error) {
      return { ok: false, kind: 'redis', detail: downDetail(error as Error, await silentMasters, this.connection.target) };
    }
    if (stored !== null && stored !== this.layout) {
      return { ok: false, kind: 'redis', detail: `layout mismatch: Redis holds ${stored}, this replica uses ${this.layout}` };
    }
    // a Cluster with a stalled master: its groups fail (per fail mode), the others work, so the ledger stays up
    const silent = await silentMasters;
    if (silent.length > 0) return { ok: true, kind: 'redis', detail: `redis ${this.connection.target}: degraded, no reply from master ${silent.join(', ')}` };
    return { ok: true, kind: 'redis', detail: `redis ${this.connection.target}` };
  }

  /** Disconnects. Open reservations are not released: their leases expire in Redis (as for a replica that died). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.mover.stop();
    await this.connection.close();
  }

  /** Anchors the server clock on a fresh connection (until then reserves carry no deadline). */
  private async syncClock(): Promise<void> {
    this.clock.forget();
    try {
      const [seconds, micros] = await this.connection.client.time();
      this.clock.observe(Number(seconds) * 1000 + Math.floor(Number(micros) / 1000));
    } catch {
      // the next reserve reply anchors it
    }
  }

  private run(name: ScriptName, args: ScriptArgs, target: GroupNamespace = this.router.home): Promise<unknown> {
    return this.command(() => this.scripts[name](target.layoutKey, target.namespace, this.layout, this.packedLevels, args), target.namespace);
  }

  /**
   * Fails at once while closed or disconnected (never queued: LedgerUnreachableError, nothing was sent), else after
   * `commandTimeoutMs` from now at most (RedisConnection.send); failures name the target, never credentials. `key` (or
   * a namespace: its hash tag decides the slot) names the Cluster master whose fail-fast applies; without it, none.
   */
  private async command<T>(send: () => Promise<T>, key?: string): Promise<T> {
    if (this.closed) throw new Error('ledger is closed');
    if (!this.connection.isUp) throw new LedgerUnreachableError(`redis ledger unavailable: ${this.connection.describeDown()}`);
    return this.connection.send(send, key);
  }
}

/**
 * Why the ledger is down, for health: the failure as send worded it (wrapping it again doubled the message), and on a
 * Cluster the masters that do not answer. A Cluster that marked a master failed, with no replica to promote, answers
 * CLUSTERDOWN to every command (`cluster-require-full-coverage yes`, the default: docs/deploy.md).
 */
function downDetail(error: Error, silent: readonly string[], target: string): string {
  const masters = silent.length > 0 ? `no reply from master ${silent.join(', ')}` : '';
  if (error instanceof LedgerUnreachableError && /\bCLUSTERDOWN\b/.test(error.message))
    return `redis ${target}: down, the Cluster answers CLUSTERDOWN to every command (${masters || 'a master is marked failed'})`;
  return masters ? `${error.message}; ${masters}` : error.message;
}

/**
 * Connects (waiting for the first attempt only) and returns the ledger. If Redis is down at start-up the ledger is
 * returned anyway: operations reject until it comes up (the engine applies CLLAMA_BUDGET_FAIL_MODE) and health says why.
 */
export async function createRedisLedger(options: RedisLedgerOptions): Promise<RedisLedger> {
  const connection = new RedisConnection({
    url: options.url,
    cluster: options.cluster,
    commandTimeoutMs: options.commandTimeoutMs,
    connectTimeoutMs: options.connectTimeoutMs,
    onStateChange: options.onStateChange,
  });
  const ledger = new RedisLedger(connection, {
    keyPrefix: options.keyPrefix ?? 'tollgate',
    bucketMs: options.bucketMs ?? 1000,
    retentionMs: options.retentionMs ?? LEDGER_RETENTION_MS,
    tombstoneMs: options.tombstoneMs,
    groups: options.groups,
    onWarning: options.onWarning,
  });
  await connection.start();
  return ledger;
}
