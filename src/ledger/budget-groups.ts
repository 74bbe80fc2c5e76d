// Budget groups: the agents and shared budgets joined by shared-budget membership (connected components of the policies).

/** Which budget group a scope's state is in (BudgetGroups, from the policies; tests may give their own). */
export interface GroupMap {
  groupOf(scope: string): string;
}

/** An agent and the shared budgets its policy draws from. */
export interface Membership {
  readonly agentId: string;
  readonly shared: readonly string[];
}

/**
 * Whose budget a scope belongs to: `agent:<id>` for an agent's own, model-scoped and session scopes, `shared:<name>`
 * for a shared budget's (any model suffix dropped); any other scope is its own.
 */
export function entityOf(scope: string): string {
  const bar = scope.indexOf('|model:');
  const base = bar < 0 ? scope : scope.slice(0, bar);
  if (base.startsWith('session:')) {
    const session = /^session:\d+:([^:]+):/.exec(base);
    return session ? `agent:${session[1]}` : base;
  }
  return base;
}

/**
 * The partition of budgets into groups: every reservation touches the scopes of one agent and the shared budgets it
 * draws from, so all of them (and, through shared budgets, every agent drawing from one) are in one group. A group is
 * named after its first shared budget by name (`shared:<name>`), or for an agent with only its own limits after the
 * agent (`agent:<id>`); a budget no policy names is a group of its own. Adding an agent to a shared budget so moves
 * only that agent (and, when two groups merge, the group whose first shared budget sorts later).
 */
export class BudgetGroups implements GroupMap {
  private constructor(private readonly groups: ReadonlyMap<string, string>) {}

  static of(memberships: Iterable<Membership>): BudgetGroups {
    const parent = new Map<string, string>();
    const find = (entity: string): string => {
      let root = entity;
      for (let up = parent.get(root); up !== undefined && up !== root; up = parent.get(root)) root = up;
      let walk = entity; // path compression
      for (let next = parent.get(walk); walk !== root && next !== undefined; next = parent.get(walk)) {
        parent.set(walk, root);
        walk = next;
      }
      return root;
    };
    const union = (a: string, b: string) => {
      const [ra, rb] = [find(a), find(b)];
      if (ra === rb) return;
      // the root is the group's name: a shared budget over an agent, then the smaller name
      const aFirst = rankOf(ra) < rankOf(rb) || (rankOf(ra) === rankOf(rb) && ra < rb);
      if (aFirst) parent.set(rb, ra);
      else parent.set(ra, rb);
    };
    for (const { agentId, shared } of memberships) {
      const agent = `agent:${agentId}`;
      if (!parent.has(agent)) parent.set(agent, agent);
      for (const name of shared) {
        const budget = `shared:${name}`;
        if (!parent.has(budget)) parent.set(budget, budget);
        union(agent, budget);
      }
    }
    const groups = new Map<string, string>();
    for (const entity of parent.keys()) groups.set(entity, find(entity));
    return new BudgetGroups(groups);
  }

  /** The group of a budget (`agent:<id>` or `shared:<name>`). */
  groupOfEntity(entity: string): string {
    return this.groups.get(entity) ?? entity;
  }

  /** The group a scope's state lives in. */
  groupOf(scope: string): string {
    return this.groupOfEntity(entityOf(scope));
  }

  /** Every budget a policy names, with its group. */
  entries(): IterableIterator<[string, string]> {
    return this.groups.entries();
  }

  /** How many groups the policies make. */
  get count(): number {
    return new Set(this.groups.values()).size;
  }
}

function rankOf(entity: string): number {
  return entity.startsWith('shared:') ? 0 : 1;
}
