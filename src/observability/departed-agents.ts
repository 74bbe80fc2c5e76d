// Which agents held in memory (metric series, cost totals) have left the registry: gone at two checks in a row, not one.

/**
 * An agent missing from one check may be a metadata.json caught half-rewritten; missing from two checks in a row (a
 * minute apart) it was deleted, and what is held for it goes: a fleet that creates and deletes agents for months would
 * otherwise keep something for every agent it ever had.
 */
export class DepartedAgents {
  #missingBefore = new Set<string>();

  /** Of the agents `held`, those not `present` now nor at the previous check. */
  check(input: { readonly held: Iterable<string>; readonly present: (agentId: string) => boolean }): Set<string> {
    const missing = new Set<string>();
    const departed = new Set<string>();
    for (const agent of input.held) {
      if (agent === '' || missing.has(agent) || input.present(agent)) continue; // '': calls no agent was authenticated for
      missing.add(agent);
      if (this.#missingBefore.has(agent)) departed.add(agent);
    }
    for (const agent of departed) missing.delete(agent);
    this.#missingBefore = missing;
    return departed;
  }
}
