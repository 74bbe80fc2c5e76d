// The loop breaker in this process's memory: per agent, the same request or tool call repeated, or a velocity spike; escalates alert → rate_limit → hard_stop.
import type { LoopAction, LoopSettings } from './loop-policy.ts';
import { levelAt, loopView, type LoopDetection, type LoopObservation, type LoopState, type LoopVerdict, type LoopView } from './loop-verdict.ts';

const MAX_AGENTS = 10_000;
const MAX_FINGERPRINTS = 16;
/** The velocity detector compares the current minute with this many minutes before it. */
export const VELOCITY_MINUTES = 10;

interface Seen {
  readonly times: number[];
  count: number;
  first: number;
  last: number;
}

interface Episode {
  strikes: number;
  lastFlag: number;
  level: LoopAction;
  verdict: LoopVerdict;
}

interface AgentLoops {
  readonly recent: Map<string, Seen>;
  tool: string | null;
  toolRun: number;
  toolFirst: number;
  /** Requests per minute, the current one last, VELOCITY_MINUTES + 1 of them. */
  readonly minutes: number[];
  minute: number;
  firstSeen: number;
  stoppedUntil: number;
  episode: Episode | null;
}

/**
 * In-process state per agent (TOLLGATE_LEDGER=memory: one process sees every call; on Redis the same rules run in the
 * shared state, loop-shared.ts, and this form judges only while Redis is unreachable). Bounded: at most 10,000 agents
 * (least recently seen forgotten) and 16 fingerprints each, each with at most K times. Observing a call is a few map
 * operations: no I/O, no text kept.
 */
export class LoopBreaker implements LoopState {
  readonly #agents = new Map<string, AgentLoops>();
  readonly #now: () => number;

  constructor(options: { readonly now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  observe(input: LoopObservation): LoopVerdict | null {
    const { settings, fingerprint } = input;
    if (!settings.enabled) return null;
    const now = this.#now();
    const state = this.#state(input.agentId, now);
    countMinute(state, now);
    const seen = repeat({ state, key: fingerprint.request, now, settings });
    if (fingerprint.toolCall !== null && fingerprint.toolCall === state.tool) state.toolRun += 1;
    else {
      state.tool = fingerprint.toolCall;
      state.toolRun = fingerprint.toolCall === null ? 0 : 1;
      state.toolFirst = now;
    }
    let detected: LoopDetection | null = null;
    if (state.tool !== null && state.toolRun >= settings.sameToolCall)
      detected = { detector: 'same_tool_call', fingerprint: state.tool, count: state.toolRun, firstAt: state.toolFirst, lastAt: now };
    else if (seen.times.length >= settings.sameRequest)
      detected = { detector: 'same_request', fingerprint: fingerprint.request, count: seen.count, firstAt: seen.first, lastAt: now };
    else detected = velocity(state, settings, now);
    if (detected) return this.#escalate({ state, detected, settings, now });
    if (state.stoppedUntil > now && state.episode) return { ...state.episode.verdict, refuse: true, changed: false, stoppedUntil: state.stoppedUntil };
    return null;
  }

  view(agentId: string, settings: Pick<LoopSettings, 'withinMs'>): LoopView | null {
    const episode = this.#agents.get(agentId)?.episode;
    if (!episode || episode.lastFlag + settings.withinMs < this.#now()) return null;
    return loopView(episode.verdict);
  }

  /** Agents with state held (for tests and memory diagnostics). */
  get agentsHeld(): number {
    return this.#agents.size;
  }

  #escalate(input: { state: AgentLoops; detected: LoopDetection; settings: LoopSettings; now: number }): LoopVerdict {
    const { state, settings, now } = input;
    let episode = state.episode;
    if (!episode || episode.lastFlag + settings.withinMs < now) episode = null;
    const strikes = (episode?.strikes ?? 0) + 1;
    const level = levelAt(strikes, settings);
    if (level === 'hard_stop') state.stoppedUntil = now + settings.withinMs;
    const verdict: LoopVerdict = {
      ...input.detected,
      level,
      refuse: level !== 'alert',
      retryAfterMs: level === 'rate_limit' ? Math.ceil(settings.withinMs / settings.sameRequest) : null,
      stoppedUntil: level === 'hard_stop' ? state.stoppedUntil : null,
      changed: !episode || episode.level !== level,
    };
    state.episode = { strikes, lastFlag: now, level, verdict };
    return verdict;
  }

  #state(agentId: string, now: number): AgentLoops {
    let state = this.#agents.get(agentId);
    if (state) {
      this.#agents.delete(agentId); // least recently seen first
    } else {
      const oldest = this.#agents.keys().next();
      if (this.#agents.size >= MAX_AGENTS && !oldest.done) this.#agents.delete(oldest.value);
      state = {
        recent: new Map(),
        tool: null,
        toolRun: 0,
        toolFirst: now,
        minutes: new Array(VELOCITY_MINUTES + 1).fill(0),
        minute: Math.floor(now / 60_000),
        firstSeen: now,
        stoppedUntil: 0,
        episode: null,
      };
    }
    this.#agents.set(agentId, state);
    return state;
  }
}

/** The times this fingerprint was seen within the window (at most K kept), and its count since it started repeating. */
function repeat(input: { state: AgentLoops; key: string; now: number; settings: LoopSettings }): Seen {
  const { state, key, now, settings } = input;
  let seen = state.recent.get(key);
  if (seen) state.recent.delete(key);
  if (!seen || seen.last + settings.withinMs < now) {
    const oldest = state.recent.keys().next();
    if (!seen && state.recent.size >= MAX_FINGERPRINTS && !oldest.done) state.recent.delete(oldest.value);
    seen = { times: [], count: 0, first: now, last: now };
  }
  state.recent.set(key, seen);
  seen.times.push(now);
  while (seen.times.length > settings.sameRequest || seen.times[0] <= now - settings.withinMs) seen.times.shift();
  seen.count += 1;
  seen.last = now;
  return seen;
}

function countMinute(state: AgentLoops, now: number): void {
  const minute = Math.floor(now / 60_000);
  const steps = Math.min(minute - state.minute, state.minutes.length);
  for (let step = 0; step < steps; step++) {
    state.minutes.shift();
    state.minutes.push(0);
  }
  if (minute > state.minute) state.minute = minute;
  state.minutes[state.minutes.length - 1] += 1;
}

/**
 * Requests this minute above `velocity_multiple` × the agent's own rate over the 10 minutes before, and above
 * `velocity_min_rpm`, once the agent has 10 minutes of history: every call past the threshold is flagged and
 * escalates as a repeated call does. A steady rate, however high, becomes its own baseline and is never flagged.
 */
function velocity(state: AgentLoops, settings: LoopSettings, now: number): LoopDetection | null {
  if (settings.velocityMultiple === 0 || now - state.firstSeen < (VELOCITY_MINUTES + 1) * 60_000) return null;
  const current = state.minutes[state.minutes.length - 1];
  let before = 0;
  for (let index = 0; index < state.minutes.length - 1; index++) before += state.minutes[index];
  const threshold = Math.max(settings.velocityMultiple * (before / VELOCITY_MINUTES), settings.velocityMinRpm);
  if (current <= threshold) return null;
  return { detector: 'velocity', fingerprint: '', count: current, firstAt: state.minute * 60_000, lastAt: now };
}
