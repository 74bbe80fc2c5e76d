// tollgate's own parts, added one by one to the governed floor (FLOOR_ADD=ledger,events,loop,history): what each costs a call.
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { EventFeed } from '../src/admin/event-feed.ts';
import { historyLine } from '../src/history/entry.ts';
import { MemoryLedger } from '../src/ledger/memory.ts';
import type { LimitCheck } from '../src/ledger/ledger.ts';
import { EventBus } from '../src/observability/events.ts';
import { attachAuditLog } from '../src/observability/audit-log.ts';
import { loopFingerprint } from '../src/protocol/loop-fingerprint.ts';
import { attachBareMetrics } from './call-events.ts';

/** One call as the floor sees it, for the parts that record it. */
export interface FloorCall {
  readonly agentId: string;
  readonly model: string;
  readonly path: string;
  readonly bodyText: string;
  readonly body: Readonly<Record<string, unknown>>;
  readonly stream: boolean;
  readonly startedAt: number;
}

export interface FloorParts {
  readonly names: ReadonlySet<string>;
  /** ledger: a reservation in tollgate's memory ledger (2 checks, the bench policy's shape); else null. */
  reserve(call: FloorCall, estimateMicros: number): Promise<string | null>;
  settle(id: string, costMicros: number): Promise<void>;
  /** events: tollgate's bus with the audit log, metrics and the live feed, fed a call's three events. */
  decided(call: FloorCall, id: string): void;
  answered(call: FloorCall, input: { id: string; status: number; costMicros: number; tokensIn: number; tokensOut: number }): void;
  /** history: tollgate's history line (cllama's fields, its sha256 id) instead of the floor's JSON.stringify. */
  historyLine(call: FloorCall, input: { status: number; answer: string; tokensIn: number; tokensOut: number; costMicros: number }): string | null;
}

const HOUR = 3_600_000;

export function floorParts(list: string | undefined): FloorParts {
  const names = new Set((list ?? '').split(',').filter(Boolean));
  const ledger = names.has('ledger') ? new MemoryLedger({ sweepIntervalMs: 0 }) : null;
  const bus = names.has('events') ? observedBus() : null;
  const checksOf = (agentId: string): LimitCheck[] => [
    { id: `agent:${agentId}/usd/1h`, scope: `agent:${agentId}`, metric: 'usd_micros', windowMs: HOUR, limit: 1_000_000_000_000 },
    { id: `agent:${agentId}/requests/1h`, scope: `agent:${agentId}`, metric: 'requests', windowMs: HOUR, limit: 1_000_000_000 },
  ];
  return {
    names,
    async reserve(call, estimateMicros) {
      if (names.has('loop')) loopFingerprint({ body: call.body, model: call.model });
      if (!ledger) return null;
      const id = randomUUID();
      const outcome = await ledger.reserve({
        id,
        scopes: [`agent:${call.agentId}`],
        amounts: { usd_micros: estimateMicros, requests: 1 },
        checks: checksOf(call.agentId),
        leaseMs: 600_000,
      });
      return outcome.admitted ? id : null;
    },
    async settle(id, costMicros) {
      await ledger?.settle({ id, amounts: { usd_micros: costMicros, requests: 1 } });
    },
    decided(call, id) {
      if (!bus) return;
      bus.emit({
        type: 'budget_decision',
        claw_id: call.agentId,
        model: call.model,
        intervention: null,
        request_id: id,
        outcome: 'allow',
        behavior: 'hard_stop',
        limit_id: `agent:${call.agentId}/requests/1h`,
        scope: `agent:${call.agentId}`,
        metric: 'requests',
        window: '1h',
        limit: 1_000_000_000,
        used: 1,
        reserved: 1,
        remaining: 999_999_998,
        estimate_usd_micros: 375,
      });
      bus.emit({
        type: 'request',
        claw_id: call.agentId,
        model: call.model,
        intervention: null,
        request_id: id,
        path: call.path,
        provider: 'openai',
        upstream_model: call.model,
        stream: call.stream,
      });
    },
    answered(call, input) {
      bus?.emit({
        type: 'response',
        claw_id: call.agentId,
        model: `openai/${call.model}`,
        intervention: null,
        request_id: input.id,
        path: call.path,
        provider: 'openai',
        upstream_model: call.model,
        status_code: input.status,
        latency_ms: Date.now() - call.startedAt,
        stream: call.stream,
        tokens_in: input.tokensIn,
        tokens_out: input.tokensOut,
        cost_usd: input.costMicros / 1e6,
        cost_micros: input.costMicros,
        cost_source: 'price_table',
      });
    },
    historyLine(call, input) {
      if (!names.has('history')) return null;
      return historyLine({
        requestId: randomUUID(),
        agentId: call.agentId,
        path: call.path,
        requestedModel: call.model,
        effectiveProvider: 'openai',
        effectiveModel: call.model,
        statusCode: input.status,
        stream: call.stream,
        latencyMs: Date.now() - call.startedAt,
        startedAt: call.startedAt,
        requestOriginalJson: call.bodyText,
        response: call.stream ? { format: 'sse', text: input.answer } : { format: 'json', jsonText: input.answer },
        usage: {
          prompt_tokens: input.tokensIn,
          completion_tokens: input.tokensOut,
          reported_cost_usd: input.costMicros / 1e6,
          cost_micros: input.costMicros,
          cost_source: 'price_table',
        },
      });
    },
  };
}

function observedBus(): EventBus {
  const bus = new EventBus();
  const devNull = pino.destination({ dest: '/dev/null', sync: true });
  attachAuditLog({ bus, destination: devNull });
  new EventFeed({ bus });
  attachBareMetrics(bus);
  return bus;
}
