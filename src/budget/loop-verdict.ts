// What the loop breaker decides for a call, the state seam its two forms share (in memory, shared on Redis), and the one JSON shape of a loop.
import type { LoopFingerprint } from '../protocol/loop-fingerprint.ts';
import type { LoopAction, LoopSettings } from './loop-policy.ts';

export type LoopDetector = 'same_request' | 'same_tool_call' | 'velocity';

/** What the breaker saw (hashes only) and decided for one call. */
export interface LoopVerdict {
  readonly detector: LoopDetector;
  readonly fingerprint: string;
  /** Repeats seen (requests in the current minute for velocity). */
  readonly count: number;
  readonly firstAt: number;
  readonly lastAt: number;
  readonly level: LoopAction;
  /** Whether this call is refused (rate_limit, hard_stop). */
  readonly refuse: boolean;
  /** When a rate-limited caller may try again; null for a hard stop. */
  readonly retryAfterMs: number | null;
  /** Until when the agent is stopped (hard_stop). */
  readonly stoppedUntil: number | null;
  /** First detection of an episode, or a new level: worth an event and an alert. */
  readonly changed: boolean;
}

/** The detection part of a verdict, before escalation decides the level. */
export type LoopDetection = Pick<LoopVerdict, 'detector' | 'fingerprint' | 'count' | 'firstAt' | 'lastAt'>;

/** A loop as the admin API, the dashboard, the audit event and the refusal show it: hashes and ISO times. */
export interface LoopView {
  readonly detector: LoopDetector;
  readonly fingerprint: string;
  readonly count: number;
  readonly first_at: string;
  readonly last_at: string;
  readonly level: LoopAction;
  readonly stopped_until: string | null;
}

export interface LoopObservation {
  readonly agentId: string;
  readonly fingerprint: LoopFingerprint;
  readonly settings: LoopSettings;
}

/**
 * Where an agent's loop state lives: this process's memory (LoopBreaker), or the shared state that every replica
 * reads and writes (SharedLoopState, on Redis). The memory form answers at once; the shared one with a promise.
 */
export interface LoopState {
  /** Records one call of the agent and says whether it is part of a loop, and what to do about it. */
  observe(input: LoopObservation): LoopVerdict | null | Promise<LoopVerdict | null>;
  /** The agent's current loop episode, if one was flagged within its window. */
  view(agentId: string, settings: Pick<LoopSettings, 'withinMs'>): LoopView | null | Promise<LoopView | null>;
  /**
   * The shared form: whether this replica's last verdict for the agent flagged it, within its window. Its next call
   * waits for the verdict before reserving, instead of beside the reserve.
   */
  suspect?(agentId: string): boolean;
}

/** Flagged calls 1..N alert, N+1..2N rate-limit, then hard stop: as far as the policy's `action` allows. */
export function levelAt(strikes: number, settings: Pick<LoopSettings, 'action' | 'escalateAfter'>): LoopAction {
  if (settings.action === 'alert' || strikes <= settings.escalateAfter) return 'alert';
  if (settings.action === 'rate_limit' || strikes <= 2 * settings.escalateAfter) return 'rate_limit';
  return 'hard_stop';
}

/** The verdict's loop in its JSON shape (ISO times). */
export function loopView(verdict: LoopVerdict): LoopView {
  return {
    detector: verdict.detector,
    fingerprint: verdict.fingerprint,
    count: verdict.count,
    first_at: new Date(verdict.firstAt).toISOString(),
    last_at: new Date(verdict.lastAt).toISOString(),
    level: verdict.level,
    stopped_until: verdict.stoppedUntil === null ? null : new Date(verdict.stoppedUntil).toISOString(),
  };
}
