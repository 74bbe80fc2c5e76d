// Admission's loop check: observes each call's fingerprint, emits loop_detected, and refuses in the caller's wire format.
import { randomUUID } from 'node:crypto';
import { ProxyError } from '../errors.ts';
import type { EventBus } from '../observability/events.ts';
import { retryAfterSeconds } from './duration.ts';
import type { AdmitRequest } from './admission.ts';
import { DEFAULT_LOOP, type LoopSettings } from './loop-policy.ts';
import { loopView, type LoopState, type LoopVerdict } from './loop-verdict.ts';
import type { PolicyResult } from './policy/policy.ts';

/** The loop settings in force: the policy's `loop` block, else the defaults (also for an unusable policy). */
export function loopSettings(policy: PolicyResult): LoopSettings {
  return policy.kind === 'policy' ? policy.loop : DEFAULT_LOOP;
}

/**
 * Observes the call. From memory the answer is at once: the refusal (rate_limit, hard_stop) or null. From the shared
 * state it is a promise the caller awaits beside its reserve (one round trip for both), unless the settings only ever
 * alert: then nothing waits for it (null), and the event follows when Redis answers.
 */
export function checkLoop(input: {
  state: LoopState;
  bus: EventBus;
  request: AdmitRequest;
  settings: LoopSettings;
}): ProxyError | null | Promise<ProxyError | null> {
  const { request, settings } = input;
  if (!request.fingerprint || !settings.enabled) return null;
  const judged = input.state.observe({ agentId: request.agent.id, fingerprint: request.fingerprint, settings });
  // decided at once on every call from memory: no closure made for it (under tsx each one costs a defineProperty)
  if (!(judged instanceof Promise)) return decideLoop(input, judged);
  const decide = (verdict: LoopVerdict | null): ProxyError | null => decideLoop(input, verdict);
  if (settings.action === 'alert') {
    judged.then(decide, () => null);
    return null;
  }
  return judged.then(decide);
}

function decideLoop(input: { bus: EventBus; request: AdmitRequest; settings: LoopSettings }, verdict: LoopVerdict | null): ProxyError | null {
  if (!verdict) return null;
  emitLoop(input.bus, input.request, verdict);
  return verdict.refuse ? loopError(verdict, input.settings) : null;
}

function emitLoop(bus: EventBus, request: AdmitRequest, verdict: LoopVerdict): void {
  const view = loopView(verdict);
  bus.emit({
    type: 'loop_detected',
    claw_id: request.agent.id,
    model: request.requestedModel,
    intervention: 'loop_detected',
    request_id: request.requestId,
    alert_id: randomUUID(),
    alert: verdict.changed,
    detector: view.detector,
    fingerprint: view.fingerprint,
    count: view.count,
    first_at: view.first_at,
    last_at: view.last_at,
    action: view.level,
    refused: verdict.refuse,
    stopped_until: view.stopped_until,
  });
}

/** 429 `loop_detected`: rate_limit says when to come back (`x-should-retry: true`); hard_stop says not to. */
function loopError(verdict: LoopVerdict, settings: LoopSettings): ProxyError {
  const hard = verdict.level === 'hard_stop';
  const headers: Record<string, string> = { 'x-should-retry': String(!hard) };
  if (!hard && verdict.retryAfterMs !== null) {
    headers['retry-after'] = String(retryAfterSeconds(verdict.retryAfterMs));
    headers['retry-after-ms'] = String(verdict.retryAfterMs);
  }
  const { level, ...view } = loopView(verdict);
  const loop = { action: level, ...view, within: settings.within, retry_after_ms: hard ? null : verdict.retryAfterMs };
  const seen =
    verdict.detector === 'velocity'
      ? `${verdict.count} requests this minute, a spike over its own rate`
      : `${verdict.detector.replace(/_/g, ' ')} ${verdict.count} times`;
  const message = hard
    ? `loop detected: this agent repeated itself (${seen}) and is stopped until ${loop.stopped_until}`
    : `loop detected: this agent repeats itself (${seen}); slow down or change course`;
  return new ProxyError('loop_detected', { message, extra: { loop }, headers });
}
