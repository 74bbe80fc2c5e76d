// One upstream attempt of a request as history lists it: where it went, how it ended, what it was charged.
import type { AdmittedCall, AttemptSummary } from './context.ts';

/** One attempt as history lists it: where it went, how it ended, what it was charged. */
export function attemptSummary(call: AdmittedCall, status: number): AttemptSummary {
  const charged = call.price?.costMicros ?? (call.usage ? null : 0);
  return {
    provider: call.route.provider.name,
    model: call.route.upstreamModel,
    status_code: status,
    latency_ms: Date.now() - call.attemptStartedAt,
    charged_micros: charged,
  };
}
