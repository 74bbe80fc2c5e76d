// The loop breaker in the shared state (Redis): every replica's calls of an agent counted together, one script per call.
import { readFileSync } from 'node:fs';
import type { SharedScript } from '../ledger/shared-state.ts';
import { LoopBreaker, VELOCITY_MINUTES } from './loop-breaker.ts';
import type { LoopAction, LoopSettings } from './loop-policy.ts';
import { loopView, type LoopDetector, type LoopObservation, type LoopState, type LoopVerdict, type LoopView } from './loop-verdict.ts';

const LEVELS: readonly LoopAction[] = ['alert', 'rate_limit', 'hard_stop'];
/** Fingerprints held per agent, as in memory. */
const MAX_FINGERPRINTS = 16;
/** An agent's loop state outlives its last call by this much (and by its `within`): a tool run idle for an hour ends. */
const IDLE_MS = 60 * 60_000;

/** Read once, at start-up. */
const LOOP_LUA = readFileSync(new URL('./loop.lua', import.meta.url), 'utf8');

/**
 * The rules of loop-breaker.ts run atomically in Redis (loop.lua) on one hash per agent, so an agent whose calls land on
 * N replicas is judged on all of them, as one process would judge it. Each call is one script on the shared state's
 * connection (an EVALSHA reading and writing a few fields of the agent's hash), sent at admission beside the reserve,
 * so it adds no round trip to the call's path. While Redis cannot be reached, this replica judges the calls it serves
 * from its own memory (as before the state was shared), and reports the failure through `onError` once a minute.
 */
export class SharedLoopState implements LoopState {
  readonly #run: SharedScript;
  readonly #now: () => number;
  readonly #local: LoopBreaker;
  readonly #onError: (error: Error) => void;
  #reportedAt = Number.NEGATIVE_INFINITY;

  constructor(options: { readonly script: (lua: string) => SharedScript; readonly now?: () => number; readonly onError?: (error: Error) => void }) {
    this.#run = options.script(LOOP_LUA);
    this.#now = options.now ?? Date.now;
    this.#local = new LoopBreaker({ now: this.#now });
    this.#onError = options.onError ?? (() => {});
  }

  async observe(input: LoopObservation): Promise<LoopVerdict | null> {
    const { settings, fingerprint } = input;
    if (!settings.enabled) return null;
    const args = [
      'observe',
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
    try {
      return verdictOf((await this.#run(loopKey(input.agentId), args)) as unknown[]);
    } catch (error) {
      // reported once a minute at most: an outage fails every call's script
      if (this.#now() - this.#reportedAt >= 60_000) {
        this.#reportedAt = this.#now();
        this.#onError(error as Error);
      }
      return this.#local.observe(input);
    }
  }

  async view(agentId: string, settings: Pick<LoopSettings, 'withinMs'>): Promise<LoopView | null> {
    const verdict = verdictOf((await this.#run(loopKey(agentId), ['view', Math.floor(this.#now()), settings.withinMs])) as unknown[]);
    return verdict ? loopView(verdict) : null;
  }
}

/** The agent's loop hash, under the shared state's namespace. */
function loopKey(agentId: string): string {
  return `loop:${agentId}`;
}

/** The script's reply: {0}, or {1, detector, fingerprint, count, first, last, level, refuse, retry|-1, stopped|-1, changed}. */
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
