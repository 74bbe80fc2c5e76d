// What the candidate loop asks of circuits (pipeline/circuits.ts keeps them on the shared state), and the no-circuit form.

/** What a candidate's circuit says about sending to it now. */
export type CircuitCheck =
  | { readonly kind: 'closed' }
  /** Skip it: cooling off until `until` (ms), or half-open with another call probing it. */
  | { readonly kind: 'open'; readonly until: number }
  /** Half-open: this call is its one probe (report its outcome, or release it if not sent). */
  | { readonly kind: 'probe' };

export interface OpenCircuit {
  readonly provider: string;
  readonly model: string;
  readonly state: 'open' | 'half_open';
  /** ms since epoch: when the cool-off ends (half-open: it has). */
  readonly until: number;
}

export interface CandidateCircuits {
  /** Whether the candidate may be sent to; closed circuits answer from memory. */
  check(provider: string, model: string): Promise<CircuitCheck>;
  /** A call failed as failover counts failures (5xx, transport error, nothing before the first byte). */
  failed(input: { provider: string; model: string; probe: boolean; requestId?: string }): Promise<void>;
  /** A call got an answer. */
  succeeded(input: { provider: string; model: string; requestId?: string }): Promise<void>;
  /** A probe claimed but never sent. */
  release(provider: string, model: string): Promise<void>;
  /** Circuits open or half-open now (status, dashboard). */
  open(): OpenCircuit[];
  close(): void;
}

const CLOSED: CircuitCheck = { kind: 'closed' };

/** Every circuit closed: candidates are never skipped. */
export const NO_CIRCUITS: CandidateCircuits = {
  check: async () => CLOSED,
  failed: async () => undefined,
  succeeded: async () => undefined,
  release: async () => undefined,
  open: () => [],
  close: () => undefined,
};
