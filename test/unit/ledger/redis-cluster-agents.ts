// Test support for a Cluster with a master out: one agent per master, and commands watched while the clock stands still.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mock } from 'node:test';
import type { LimitCheck, ReserveInput } from '../../../src/ledger/ledger.ts';
import { createRedisLedger, type RedisLedger } from '../../../src/ledger/redis/ledger.ts';
import { ledgerNamespace } from '../../../src/ledger/redis/layout.ts';
import { watch, type PrivateCluster } from './redis-test-support.ts';

/** An agent whose budget group's hash tag lives on the master at `port`. */
export interface Agent {
  readonly port: number;
  readonly scope: string;
  readonly group: string;
  readonly check: LimitCheck;
}

/** One agent per master: budget groups `g0`, `g1`, … until every master serves one of them. */
export async function agentPerMaster(cluster: PrivateCluster, prefix: string): Promise<Agent[]> {
  const agents = new Map<number, Agent>();
  for (let index = 0; agents.size < cluster.ports.length; index++) {
    const group = `g${index}`;
    const port = await cluster.portOf(`${ledgerNamespace(prefix, group)}layout`);
    const scope = `agent:on-${port}`;
    if (!agents.has(port))
      agents.set(port, { port, scope, group, check: { id: `${scope}/usd`, scope, metric: 'usd_micros', windowMs: 3_600_000, limit: 1_000_000 } });
  }
  return cluster.ports.map((port) => agents.get(port) as Agent);
}

/** The ledger's `groups` option for these agents: each agent's scope in its own group. */
export function groupsOf(agents: readonly Agent[]): () => { groupOf: (scope: string) => string } {
  const groupOf = new Map(agents.map((agent) => [agent.scope, agent.group]));
  return () => ({ groupOf: (scope) => groupOf.get(scope) ?? scope });
}

/** A ledger over the Cluster with these agents' groups, and the tally of what each agent was charged (micro-dollars). */
export async function ledgerFor(cluster: PrivateCluster, prefix: string, agents: readonly Agent[], commandTimeoutMs: number) {
  const ledger: RedisLedger = await createRedisLedger({ url: cluster.url, cluster: true, keyPrefix: prefix, commandTimeoutMs, groups: groupsOf(agents) });
  const charged = new Map(agents.map((agent) => [agent.scope, 0]));
  const charge = (agent: Agent, usd: number) => charged.set(agent.scope, (charged.get(agent.scope) ?? 0) + usd);
  return { ledger, charged, charge };
}

export function reservation(agent: Agent, usd: number): ReserveInput {
  return { id: randomUUID(), scopes: [agent.scope], amounts: { usd_micros: usd }, checks: [agent.check], leaseMs: 60_000 };
}

/** Lets pending I/O and promises run (setImmediate is not mocked). */
export const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Moves the mocked clock and lets what it fired settle. */
export async function elapse(ms: number): Promise<void> {
  mock.timers.tick(ms);
  for (let i = 0; i < 10; i++) await turn();
}

/** How a command ended while the clock stood still; fails if it did not end (it waited on a timer: a retry, its timeout). */
export async function endedUnmocked<T>(what: string, promise: Promise<T>): Promise<{ value: T | undefined; error: unknown }> {
  const state = watch(promise);
  for (const until = Date.now() + 10_000; !state.done && Date.now() < until; ) await turn();
  assert.ok(state.done, `${what}: no end while the clock stands still (waiting on a timer: a retry, or its own timeout)`);
  return state;
}

/**
 * The value of a command on a healthy master, the clock standing still: it must be answered by the master itself (no
 * timer fires meanwhile). A guard against hanging (a command held behind the stalled master's), not a timing assertion.
 */
export async function answered<T>(what: string, promise: Promise<T>): Promise<T> {
  const state = await endedUnmocked(what, promise);
  if (state.error) assert.fail(`${what} failed beside a stalled master: ${String(state.error)}`);
  return state.value as T;
}
