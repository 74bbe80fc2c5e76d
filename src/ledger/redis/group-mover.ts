// Moves a budget's ledger state to its new group when the policies change who shares with whom, and applies outboxes.
import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { type BudgetGroups, entityOf, type GroupMap } from '../budget-groups.ts';
import type { GroupNamespace, GroupRouter } from './routing.ts';
import type { ScriptArgs } from './codec.ts';
import type { ScriptName } from './scripts.ts';

export interface MoverDeps {
  readonly router: GroupRouter;
  readonly client: Redis | Cluster;
  /** Runs one ledger operation in a group's namespace. */
  run(name: ScriptName, args: ScriptArgs, target: GroupNamespace): Promise<unknown>;
  /** Runs a plain command the ledger's way (failing fast while Redis is away). */
  command<T>(send: () => Promise<T>): Promise<T>;
  /** How long a forwarded outbox entry's id is remembered (the tombstone time). */
  readonly keepMs: number;
  readonly onError?: (error: Error) => void;
}

/** A move's lock outlives a crashed mover by this much, then another replica resumes the move. */
const MOVE_LOCK_MS = 30_000;
/** A reconcile left unfinished (a move failed, or another replica was moving) runs again after this long. */
const RETRY_MS = 500;
/**
 * How long after a move its old group's outbox is watched: longer than a lease, so every reservation in flight there
 * has settled or expired; a replica that died between a settle and applying its outbox is caught up by any reconcile.
 */
const OUTBOX_WATCH_MS = 60 * 60_000;

/**
 * Where each budget's state is (`placement`, a hash under the prefix's own tag, kept here in memory too), and the
 * moves that bring it to the group today's policies put it in. Calls are routed by placement, not by the policies:
 * until a budget's move is done, its calls go where its state is, and a call that names it with a budget of its new
 * group is refused (two groups: not atomic), so nothing is admitted against a partial state.
 */
export class GroupMover {
  private readonly placed = new Map<string, string>();
  private seen: GroupMap | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private retry: NodeJS.Timeout | null = null;

  constructor(private readonly deps: MoverDeps) {}

  /** The group a scope's state is in now: its budget's placement, else where the policies put it. */
  groupOf(groups: GroupMap, scope: string): string {
    return this.placed.get(entityOf(scope)) ?? groups.groupOf(scope);
  }

  /** Called with the groups of every call: a new set of groups (a reload) starts reconciling, in the background. */
  notice(groups: GroupMap | null): void {
    if (groups === this.seen) return;
    this.seen = groups;
    if (groups && 'entries' in groups) void this.reconcile();
  }

  /** Moves every budget whose group changed, one after another; resolves when done (a new change runs again). */
  reconcile(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      let done = true;
      try {
        do {
          this.again = false;
          const groups = this.seen;
          if (groups && 'entries' in groups) done = await this.reconcileWith(groups as BudgetGroups);
        } while (this.again);
      } catch (error) {
        done = false;
        this.deps.onError?.(error as Error);
      } finally {
        this.running = null;
      }
      // a budget left fenced or marked refuses its checks until its move is done: try again soon, not at the next reload
      if (!done && !this.retry) {
        this.retry = setTimeout(() => {
          this.retry = null;
          void this.reconcile();
        }, RETRY_MS);
        this.retry.unref();
      }
    })();
    return this.running;
  }

  /** Stops retrying (the ledger is closing). */
  stop(): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    this.seen = null;
  }

  /** True when every budget is where the groups put it (false: a move is left to another replica, or to a retry). */
  private async reconcileWith(groups: BudgetGroups): Promise<boolean> {
    const { client, command, router } = this.deps;
    const key = `${router.home.namespace}placement`;
    const placement = await command(() => client.hgetall(key));
    const first: string[] = [];
    let done = true;
    for (const [entity, group] of groups.entries()) {
      const where = placement[entity];
      if (where === undefined) first.push(entity, group);
      else if (where !== group) {
        this.placed.set(entity, where);
        if (await this.move(entity, where, group)) this.placed.set(entity, group);
        else done = false;
      } else this.placed.set(entity, where);
    }
    await this.drainWatched();
    if (first.length > 0) {
      // a budget seen for the first time: its state is where the policies put it (set only if no replica placed it)
      for (let index = 0; index < first.length; index += 2) {
        if (await command(() => client.hsetnx(key, first[index], first[index + 1]))) this.placed.set(first[index], first[index + 1]);
        else this.placed.set(first[index], (await command(() => client.hget(key, first[index]))) ?? first[index + 1]);
      }
    }
    return done;
  }

  /**
   * Moves one budget's state from one group to another: (1) its scopes there are marked incoming in the new group
   * (no check answered); (2) fenced in the old one (checks refused, usage added from now on goes to the outbox) and
   * read; (3) added to the new group once per move id, clearing the marks; (4) removed from the old one, whose outbox
   * is applied; (5) placed. A move cut short (a crash) is resumed by the next reconcile of any replica: each step can
   * run again. True when this replica finished it.
   */
  async move(entity: string, from: string, to: string): Promise<boolean> {
    const { client, command, router, run } = this.deps;
    const lock = `${router.home.namespace}moving:${entity}`;
    if ((await command(() => client.set(lock, randomUUID(), 'PX', MOVE_LOCK_MS, 'NX'))) !== 'OK') return false;
    try {
      const source = router.namespaceOf(from);
      const target = router.namespaceOf(to);
      const watched = `${router.home.namespace}outboxes`;
      await command(() => client.zadd(watched, Date.now() + OUTBOX_WATCH_MS, source.namespace));
      const scopes = await command(() => client.smembers(`${source.namespace}e:${entity}`));
      if (scopes.length > 0) await run('mark', [entity, from, scopes.join('\n')], target);
      const dump = (await run('fence', [entity, to, randomUUID()], source)) as [Buffer, ...(Buffer | number)[][]];
      const args: (string | Buffer)[] = [entity, dump[0].toString()];
      for (const item of dump.slice(1) as (Buffer | number)[][]) {
        const text = (value: Buffer | number) => (typeof value === 'number' ? String(value) : value);
        if (item[0].toString() === 'S') args.push('S', text(item[1]), text(item[2]), text(item[3]));
        else args.push('B', text(item[1]), text(item[2]), text(item[3]), text(item[4]), String((item.length - 5) / 2), ...item.slice(5).map(text));
      }
      await run('adopt', args, target);
      await run('drop', [entity], source);
      await this.drain(source);
      await command(() => client.hset(`${router.home.namespace}placement`, entity, to));
      return true;
    } finally {
      await command(() => client.del(lock)).catch(() => undefined);
    }
  }

  /** Applies a group's outbox: each entry once in the group its budget moved to, then removed here. */
  async drain(source: GroupNamespace): Promise<void> {
    const { client, command, router, run } = this.deps;
    const key = `${source.namespace}out`;
    const entries = await command(() => client.hgetallBuffer(key));
    for (const [id, value] of Object.entries(entries)) {
      const numbers = Buffer.alloc(64);
      value.copy(numbers, 0, 0, 56); // at, then the row
      numbers.writeDoubleLE(this.deps.keepMs, 56);
      const [group, ...scopes] = value.subarray(56).toString().split('\n');
      const target = router.namespaceOf(group);
      if ((await run('forward', [id, numbers, scopes.join('\n')], target)) === 2) await this.drain(target);
      await command(() => client.hdel(key, id));
    }
  }

  /** Drains the outbox of every group a budget left within OUTBOX_WATCH_MS (`outboxes`, by watch end). */
  private async drainWatched(): Promise<void> {
    const { client, command, router } = this.deps;
    const watched = `${router.home.namespace}outboxes`;
    await command(() => client.zremrangebyscore(watched, '-inf', Date.now()));
    for (const namespace of await command(() => client.zrange(watched, 0, -1))) {
      await this.drain({ namespace, layoutKey: `${namespace}layout` });
    }
  }
}
