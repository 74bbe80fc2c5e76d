// Admission's loop check: observes each call's fingerprint, emits loop_detected, and refuses in the caller's wire format.
import { randomUUID } from 'node:crypto';
import { ProxyError } from '../errors.ts';
import type { EventBus } from '../observability/events.ts';
import { retryAfterSeconds } from './duration.ts';
import type { AdmitRequest } from './admission.ts';
import type { LoopBreaker, LoopVerdict } from './loop-breaker.ts';
import { DEFAULT_LOOP, type LoopSettings } from './loop-policy.ts';
import type { PolicyResult } from './policy/policy.ts';

/** The loop settings in force: the policy's `loop` block, else the defaults (also for an unusable policy). */
export function loopSettings(policy: PolicyResult): LoopSettings {
  return policy.kind === 'policy' ? policy.loop : DEFAULT_LOOP;
}

/** Observes the call; returns the refusal when the loop breaker refuses it (rate_limit, hard_stop), else null. */
export function checkLoop(input: { breaker: LoopBreaker; bus: EventBus; request: AdmitRequest; settings: LoopSettings }): ProxyError | null {
  const { request, settings } = input;
  if (!request.fingerprint) return null;
  const verdict = input.breaker.observe({ agentId: request.agent.id, fingerprint: request.fingerprint, settings });
  if (!verdict) return null;
  input.bus.emit({
    type: 'loop_detected',
    claw_id: request.agent.id,
    model: request.requestedModel,
    intervention: 'loop_detected',
    request_id: request.requestId,
    alert_id: randomUUID(),
    alert: verdict.changed,
    detector: verdict.detector,
    fingerprint: verdict.fingerprint,
    count: verdict.count,
    first_at: new Date(verdict.firstAt).toISOString(),
    last_at: new Date(verdict.lastAt).toISOString(),
    action: verdict.level,
    refused: verdict.refuse,
    stopped_until: verdict.stoppedUntil === null ? null : new Date(verdict.stoppedUntil).toISOString(),
  });
  return verdict.refuse ? loopError(verdict, settings) : null;
}

/** 429 `loop_detected`: rate_limit says when to come back (`x-should-retry: true`); hard_stop says not to. */
function loopError(verdict: LoopVerdict, settings: LoopSettings): ProxyError {
  const hard = verdict.level === 'hard_stop';
  const headers: Record<string, string> = { 'x-should-retry': String(!hard) };
  if (!hard && verdict.retryAfterMs !== null) {
    headers['retry-after'] = String(retryAfterSeconds(verdict.retryAfterMs));
    headers['retry-after-ms'] = String(verdict.retryAfterMs);
  }
  const loop = {
    action: verdict.level,
    detector: verdict.detector,
    fingerprint: verdict.fingerprint,
    count: verdict.count,
    first_at: new Date(verdict.firstAt).toISOString(),
    last_at: new Date(verdict.lastAt).toISOString(),
    within: settings.within,
    retry_after_ms: hard ? null : verdict.retryAfterMs,
    stopped_until: verdict.stoppedUntil === null ? null : new Date(verdict.stoppedUntil).toISOString(),
  };
  const message = hard
    ? `loop detected: this agent repeated itself (${verdict.detector.replace(/_/g, ' ')} ${verdict.count} times) and is stopped until ${loop.stopped_until}`
    : `loop detected: this agent repeats itself (${verdict.detector.replace(/_/g, ' ')} ${verdict.count} times); slow down or change course`;
  return new ProxyError('loop_detected', { message, extra: { loop }, headers });
}
