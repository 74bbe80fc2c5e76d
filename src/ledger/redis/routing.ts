// Routes each ledger call to the namespace (hash tag, so Cluster slot) of its budget group, and remembers where ids went.
import type { GroupMap } from '../budget-groups.ts';
import { ledgerNamespace } from './layout.ts';

/** One group's keys: every key of the group starts with `namespace`; `layoutKey` routes its calls. */
export interface GroupNamespace {
  readonly namespace: string;
  readonly layoutKey: string;
}

/**
 * With budget groups (the grouped layout, for a Redis Cluster), each group's keys carry their own hash tag: a fleet's
 * ledger spreads over every shard while a reservation, whose scopes are one agent's and its shared budgets', stays in
 * one slot. Without them, every key is in the prefix's one namespace. A reservation id is settled and released where it
 * was reserved: this process remembers that until it ends; a call naming an id it does not know goes by the scopes it
 * names, else to the prefix's namespace.
 */
export class GroupRouter {
  readonly home: GroupNamespace;
  private readonly namespaces = new Map<string, GroupNamespace>();
  private readonly reserved = new Map<string, GroupNamespace>();
  /** Where a scope's state is now, given today's groups (a budget being moved is where its state still is). */
  private place: (groups: GroupMap, scope: string) => string = (groups, scope) => groups.groupOf(scope);
  private notice: (groups: GroupMap | null) => void = () => undefined;

  constructor(
    private readonly prefix: string,
    private readonly groups: (() => GroupMap | null) | null,
  ) {
    this.home = this.namespaceOf(null);
  }

  /** Routes by placement (GroupMover) rather than straight by the groups, and tells it of every groups value seen. */
  follow(placement: { groupOf(groups: GroupMap, scope: string): string; notice(groups: GroupMap | null): void }): void {
    this.place = (groups, scope) => placement.groupOf(groups, scope);
    this.notice = (groups) => placement.notice(groups);
  }

  /** Today's groups (null: not grouped). */
  private current(): GroupMap | null {
    const groups = this.groups?.() ?? null;
    this.notice(groups);
    return groups;
  }

  /** The namespace of a group (null: the prefix's own, for keys of no group). */
  namespaceOf(group: string | null): GroupNamespace {
    const key = group ?? '';
    let found = this.namespaces.get(key);
    if (!found) {
      const namespace = ledgerNamespace(this.prefix, group);
      found = { namespace, layoutKey: `${namespace}layout` };
      this.namespaces.set(key, found);
    }
    return found;
  }

  /** The one group all these scopes are in; a call spanning two groups cannot be atomic, so it is refused. */
  forScopes(scopes: Iterable<string>): GroupNamespace {
    const groups = this.current();
    if (!groups) return this.home;
    let group: string | null = null;
    for (const scope of scopes) {
      const next = this.place(groups, scope);
      if (group !== null && next !== group) {
        throw new Error(`redis ledger: one call names scopes of two budget groups (${group}, ${next}); their membership is changing`);
      }
      group = next;
    }
    return this.namespaceOf(group);
  }

  /** Splits scopes by group (usage without a reservation need not be atomic across groups). */
  split(scopes: readonly string[]): Map<GroupNamespace, string[]> {
    const groups = this.current();
    const parts = new Map<GroupNamespace, string[]>();
    for (const scope of scopes) {
      const target = groups ? this.namespaceOf(this.place(groups, scope)) : this.home;
      const list = parts.get(target);
      if (list) list.push(scope);
      else parts.set(target, [scope]);
    }
    return parts;
  }

  /** Remembers where an id is being reserved (before the call is sent: its release may follow a reserve without reply). */
  remember(id: string, target: GroupNamespace): void {
    if (this.groups) this.reserved.set(id, target);
  }

  /** Where an id was reserved, else where its scopes are, else the prefix's namespace. */
  forId(id: string, scopes: readonly string[] | undefined): GroupNamespace {
    return this.reserved.get(id) ?? (scopes && scopes.length > 0 ? this.forScopes(scopes) : this.home);
  }

  /** The id ended (settled, released, refused): nothing more goes to it. */
  forget(id: string): void {
    this.reserved.delete(id);
  }

  /** Ids reserved and not yet ended by this process. */
  get open(): number {
    return this.reserved.size;
  }
}
