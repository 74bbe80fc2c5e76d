// Counts the request bytes the process holds (bodies, answers held whole, stream copies for history), in total and per
// agent, and refuses what would exceed the configured bounds instead of letting a flood of large bodies exhaust the heap.
import { ProxyError } from '../errors.ts';

/** How soon a refused caller is told to come back: calls in flight free their bytes as they end. */
export const CAPACITY_RETRY_MS = 1000;

export interface BytesInFlightLimits {
  /** All agents together (TOLLGATE_MAX_BYTES_IN_FLIGHT). */
  readonly maxBytes: number;
  /** One agent (TOLLGATE_MAX_AGENT_BYTES_IN_FLIGHT). */
  readonly maxAgentBytes: number;
}

export class BytesInFlight {
  readonly limits: BytesInFlightLimits;
  #total = 0;
  readonly #byAgent = new Map<string, number>();

  constructor(limits: BytesInFlightLimits) {
    this.limits = limits;
  }

  /** Bytes held now, all agents together. */
  get total(): number {
    return this.#total;
  }

  /** Bytes one agent holds now. */
  heldBy(agentId: string): number {
    return this.#byAgent.get(agentId) ?? 0;
  }

  /** An empty hold for one call of this agent: it grows as the call's bytes arrive and is released when the call ends. */
  hold(agentId: string): ByteHold {
    return new ByteHold(this, agentId);
  }

  /** Adds `bytes` to the agent's and the total count, or says why not (nothing is added then). */
  take(agentId: string, bytes: number, heldByCall: number): ProxyError | null {
    const agentHeld = this.heldBy(agentId);
    if (agentHeld + bytes > this.limits.maxAgentBytes)
      return refusal('agent_capacity_exhausted', { alone: heldByCall + bytes > this.limits.maxAgentBytes, limit: this.limits.maxAgentBytes });
    if (this.#total + bytes > this.limits.maxBytes) return refusal('capacity_exhausted', { alone: false, limit: this.limits.maxBytes });
    this.#total += bytes;
    this.#byAgent.set(agentId, agentHeld + bytes);
    return null;
  }

  /** What one more byte-taking call of this agent could still hold now (its share's and the whole's room). */
  room(agentId: string): number {
    return Math.max(0, Math.min(this.limits.maxAgentBytes - this.heldBy(agentId), this.limits.maxBytes - this.#total));
  }

  give(agentId: string, bytes: number): void {
    this.#total -= bytes;
    const left = this.heldBy(agentId) - bytes;
    if (left > 0) this.#byAgent.set(agentId, left);
    else this.#byAgent.delete(agentId); // an agent holding nothing leaves no entry behind
  }
}

/** What one call holds; `take` as its bytes arrive, `release` (idempotent) when it ends, whatever the outcome. */
export class ByteHold {
  readonly #counter: BytesInFlight;
  readonly #agentId: string;
  #held = 0;

  constructor(counter: BytesInFlight, agentId: string) {
    this.#counter = counter;
    this.#agentId = agentId;
  }

  get held(): number {
    return this.#held;
  }

  /** Holds `bytes` more, or returns the refusal to answer with (503 for the whole, 429 for the agent's share). */
  take(bytes: number): ProxyError | null {
    if (bytes <= 0) return null;
    const refused = this.#counter.take(this.#agentId, bytes, this.#held);
    if (!refused) this.#held += bytes;
    return refused;
  }

  /** What this call could still take now. */
  room(): number {
    return this.#counter.room(this.#agentId);
  }

  /** Gives back part of what is held (memory freed before the call ends). */
  give(bytes: number): void {
    const given = Math.min(bytes, this.#held);
    if (given <= 0) return;
    this.#counter.give(this.#agentId, given);
    this.#held -= given;
  }

  release(): void {
    if (this.#held === 0) return;
    this.#counter.give(this.#agentId, this.#held);
    this.#held = 0;
  }
}

/**
 * The refusal, with the retry signals the SDKs obey: come back in CAPACITY_RETRY_MS, unless this call alone is larger
 * than the agent's share (an answer bigger than the share), which no retry can fix.
 */
function refusal(code: 'capacity_exhausted' | 'agent_capacity_exhausted', input: { alone: boolean; limit: number }): ProxyError {
  if (input.alone) {
    return new ProxyError(code, {
      message: `this call needs more than the ${input.limit} bytes one agent may hold in flight (TOLLGATE_MAX_AGENT_BYTES_IN_FLIGHT)`,
      headers: { 'x-should-retry': 'false' },
    });
  }
  return new ProxyError(code, { headers: { 'retry-after': String(Math.ceil(CAPACITY_RETRY_MS / 1000)), 'retry-after-ms': String(CAPACITY_RETRY_MS) } });
}
