// The loop breaker in the shared state (Redis): every replica's calls of an agent counted together, the calls of one event-loop turn in one script.
import { readFileSync } from 'node:fs';
import type { SharedScript } from '../ledger/shared-state.ts';
import { LoopBreaker, VELOCITY_MINUTES } from './loop-breaker.ts';
import type { LoopAction, LoopSettings } from './loop-policy.ts';
import { type LoopDetector, type LoopObservation, type LoopState, type LoopVerdict, type LoopView, loopView } from './loop-verdict.ts';

const LEVELS: readonly LoopAction[] = ['alert', 'rate_limit', 'hard_stop'];
/** Fingerprints held per agent, as in memory. */
const MAX_FINGERPRINTS = 16;
/** An agent's loop state outlives its last call by this much (and by its `within`): a tool run idle for an hour ends. */
const IDLE_MS = 60 * 60_000;
/** Agents remembered as flagged (least recently flagged forgotten first). */
const MAX_SUSPECTS = 10_000;
/** Observations sent in one script at most (the rest wait for the next). */
const MAX_BATCH = 64;

/** Read once, at start-up. */
const LOOP_LUA = readFileSync(new URL('./loop.lua', import.meta.url), 'utf8');

interface Pending {
  readonly input: LoopObservation;
  readonly args: readonly (string | number)[];
  readonly done: (verdict: LoopVerdict | null) => void;
}

/**
 * The rules of loop-breaker.ts run atomically in Redis (loop.lua) on one hash per agent, so an agent whose calls land on
 * N replicas is judged on all of them, as one process would judge it. The calls admitted in one turn of the event loop
 * go to Redis together, as one script (an EVALSHA reading and writing a few fields of each agent's hash), sent at
 * admission beside the reserve, so it adds no round trip to a call's path. While Redis cannot be reached, this replica
 * judges the calls it serves from its own memory (as before the state was shared), and reports the failure through
 * `onError` once a minute.
 */
export class SharedLoopState implements LoopState {
  readonly #run: SharedScript;
  readonly #now: () => number;
  readonly #local: LoopBreaker;
  readonly #onError: (error: Error) => void;
  readonly #groupOf: (agentId: string) => string | null;
  #queue: Pending[] = [];
  /** Agents this replica last saw flagged, and until when that counts (their episode's window); at most MAX_SUSPECTS. */
  readonly #suspects = new Map<string, number>();
  #reportedAt = Number.NEGATIVE_INFINITY;

  /** `groupOf`: on a Redis Cluster, the budget group of an agent, whose slot holds its loop state (default: none). */
  constructor(options: {
    readonly script: (lua: string) => SharedScript;
    readonly now?: () => number;
    readonly onError?: (error: Error) => void;
    readonly groupOf?: (agentId: string) => string | null;
  }) {
    this.#run = options.script(LOOP_LUA);
    this.#now = options.now ?? Date.now;
    this.#local = new LoopBreaker({ now: this.#now });
    this.#onError = options.onError ?? (() => {});
    this.#groupOf = options.groupOf ?? (() => null);
  }

  observe(input: LoopObservation): Promise<LoopVerdict | null> {
    const { settings, fingerprint } = input;
    if (!settings.enabled) return Promise.resolve(null);
    const args = [
      Math.floor(this.#now()),
      fingerprint.request,
      fingerprint.toolCall ?? '',
      settings.sameRequest,
      settings.withinMs,
      settings.sameToolCall,
      settings.velocityMultiple,
      settings.velocityMinRpm,
      LEVELS.indexOf(settings.action),
      settings.escalateAfter,
      MAX_FINGERPRINTS,
      VELOCITY_MINUTES,
      IDLE_MS + settings.withinMs,
    ];
    return new Promise((done) => {
      if (this.#queue.push({ input, args, done }) === 1) setImmediate(() => this.#flush());
    });
  }

  suspect(agentId: string): boolean {
    const until = this.#suspects.get(agentId);
    if (until === undefined) return false;
    if (until >= this.#now()) return true;
    this.#suspects.delete(agentId);
    return false;
  }

  async view(agentId: string, settings: Pick<LoopSettings, 'withinMs'>): Promise<LoopView | null> {
    const reply = await this.#run([loopKey(agentId)], ['view', Math.floor(this.#now()), settings.withinMs], this.#groupOf(agentId));
    const verdict = verdictOf(reply as unknown[]);
    return verdict ? loopView(verdict) : null;
  }

  /** One script per budget group for the calls queued in this turn (in their order: an agent's calls are judged as they came). */
  async #flush(): Promise<void> {
    const batch = this.#queue.splice(0, MAX_BATCH);
    if (this.#queue.length > 0) setImmediate(() => this.#flush());
    const byGroup = new Map<string | null, Pending[]>();
    for (const pending of batch) {
      const group = this.#groupOf(pending.input.agentId);
      const held = byGroup.get(group);
      if (held) held.push(pending);
      else byGroup.set(group, [pending]);
    }
    await Promise.all([...byGroup].map(([group, pendings]) => this.#send(group, pendings)));
  }

  async #send(group: string | null, batch: readonly Pending[]): Promise<void> {
    let replies: unknown[][];
    try {
      replies = (await this.#run(
        batch.map((pending) => loopKey(pending.input.agentId)),
        ['observe', ...batch.flatMap((pending) => pending.args)],
        group,
      )) as unknown[][];
    } catch (error) {
      // reported once a minute at most: an outage fails every script
      if (this.#now() - this.#reportedAt >= 60_000) {
        this.#reportedAt = this.#now();
        this.#onError(error as Error);
      }
      for (const pending of batch) pending.done(this.#local.observe(pending.input));
      return;
    }
    for (const [index, pending] of batch.entries()) {
      const verdict = verdictOf(replies[index]);
      this.#remember(pending.input, verdict);
      pending.done(verdict);
    }
  }

  #remember(input: LoopObservation, verdict: LoopVerdict | null): void {
    this.#suspects.delete(input.agentId);
    if (!verdict) return;
    if (this.#suspects.size >= MAX_SUSPECTS) this.#suspects.delete(this.#suspects.keys().next().value as string);
    this.#suspects.set(input.agentId, verdict.lastAt + input.settings.withinMs);
  }
}

/** The agent's loop hash, under the shared state's namespace. */
function loopKey(agentId: string): string {
  return `loop:${agentId}`;
}

/** A script's reply: {0}, or {1, detector, fingerprint, count, first, last, level, refuse, retry|-1, stopped|-1, changed}. */
function verdictOf(reply: readonly unknown[]): LoopVerdict | null {
  if (Number(reply[0]) !== 1) return null;
  const optional = (value: unknown) => (Number(value) < 0 ? null : Number(value));
  return {
    detector: String(reply[1]) as LoopDetector,
    fingerprint: String(reply[2]),
    count: Number(reply[3]),
    firstAt: Number(reply[4]),
    lastAt: Number(reply[5]),
    level: LEVELS[Number(reply[6])],
    refuse: Number(reply[7]) === 1,
    retryAfterMs: optional(reply[8]),
    stoppedUntil: optional(reply[9]),
    changed: Number(reply[10]) === 1,
  };
}
