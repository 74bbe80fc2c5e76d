// The parts one request needs, built once by main.ts and passed down; nothing here is read from disk per request.
import type { AgentDirectory } from '../auth/agent.ts';
import type { BudgetEngine } from '../budget/admission.ts';
import type { Config } from '../config/config.ts';
import type { HistoryRecord } from '../history/entry.ts';
import type { ModelPolicyStore } from '../budget/policy/model-policy-store.ts';
import type { CandidateCircuits } from './circuit-check.ts';
import type { SharedState } from '../ledger/shared-state.ts';
import type { KeyPools } from '../keys/key-pools.ts';
import type { EventBus } from '../observability/events.ts';
import type { Pricer } from '../pricing/pricer.ts';
import type { BytesInFlight } from '../transport/bytes-in-flight.ts';
import type { UpstreamClient } from '../upstream/client.ts';
import type { ProviderRegistry } from '../upstream/registry.ts';
import type { InFlightCalls } from './in-flight.ts';

export interface PipelineDeps {
  readonly config: Config;
  readonly agents: AgentDirectory;
  readonly providers: ProviderRegistry;
  readonly upstream: UpstreamClient;
  readonly budget: BudgetEngine;
  readonly pricer: Pricer;
  /** Where finished calls go to be written to session history; resolves once written (the answer's end waits for it). */
  readonly history: { record(record: HistoryRecord): Promise<void>; readonly pendingEntries: number };
  readonly bus: EventBus;
  /** Request bytes held by calls in progress, in total and per agent (TOLLGATE_MAX_BYTES_IN_FLIGHT and the agent's share). */
  readonly bytesInFlight: BytesInFlight;
  /** Calls in progress: shutdown waits for them before closing the ledger and history. */
  readonly inFlight: InFlightCalls;
  /** Model policies in force (governance files over metadata), from memory: budget/policy/model-policy-store.ts. */
  readonly modelPolicies: ModelPolicyStore;
  /** A circuit per model-policy candidate, shared by replicas: pipeline/circuits.ts. */
  readonly circuits: CandidateCircuits;
  /** Short-lived state shared by replicas (key health, circuits): src/ledger/shared-state.ts. */
  readonly shared: SharedState;
  /** The providers' key pools (src/keys/): which key each attempt uses, and what its answers say about it. */
  readonly keys: KeyPools;
}
