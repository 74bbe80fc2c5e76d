// A circuit per candidate (provider/model): repeated failures open it (skipped for a cool-off), then one probe call; shared by replicas.
import { randomUUID } from 'node:crypto';
import { SharedMirror, type SharedState } from '../ledger/shared-state.ts';
import type { CircuitEvent } from '../observability/event-types.ts';
import type { CandidateCircuits, CircuitCheck, OpenCircuit } from './circuit-check.ts';

export interface CircuitOptions {
  /** Failures within `windowMs` that open a circuit (default 5). */
  readonly failures?: number;
  /** Default 30 s. */
  readonly windowMs?: number;
  /** How long an open circuit is skipped before one probe call (default 30 s). */
  readonly coolOffMs?: number;
  readonly now?: () => number;
  /** State changes (opened here, closed here): audit events. */
  readonly onChange?: (event: CircuitEvent) => void;
  /** The shared state failed (Redis unreachable): circuits keep their local view and fail open. */
  readonly onError?: (error: Error) => void;
}

/** Value of `circuit:<provider/model>`: open until a time, or closed (kept a window long to name its counter). */
interface Record {
  readonly state: 'open' | 'closed';
  /** Open: when the cool-off ends. */
  readonly until: number;
  /** Names the failure counter of the current closed period: failures from before an opening never count again. */
  readonly epoch: number;
  readonly failures?: number;
}

const STATE = 'circuit:';
const COUNT = 'circuit-count:';
const PROBE = 'circuit-probe:';

export class Circuits implements CandidateCircuits {
  readonly #shared: SharedState;
  readonly #mirror: SharedMirror;
  readonly #failures: number;
  readonly #windowMs: number;
  readonly #coolOffMs: number;
  readonly #now: () => number;
  readonly #options: CircuitOptions;
  readonly #id = randomUUID();

  constructor(shared: SharedState, options: CircuitOptions = {}) {
    this.#shared = shared;
    this.#options = options;
    this.#failures = options.failures ?? 5;
    this.#windowMs = options.windowMs ?? 30_000;
    this.#coolOffMs = options.coolOffMs ?? 30_000;
    this.#now = options.now ?? Date.now;
    this.#mirror = new SharedMirror(shared, STATE, { onError: (error) => options.onError?.(error) });
  }

  /** Candidates whose circuit is open or half-open, with when their cool-off ends (status, dashboard). */
  open(): OpenCircuit[] {
    const now = this.#now();
    const out: OpenCircuit[] = [];
    for (const [key, value] of this.#mirror.entries()) {
      const record = parse(value);
      if (record?.state !== 'open') continue;
      const name = key.slice(STATE.length);
      const slash = name.indexOf('/');
      out.push({ provider: name.slice(0, slash), model: name.slice(slash + 1), until: record.until, state: now < record.until ? 'open' : 'half_open' });
    }
    return out;
  }

  /**
   * Whether the candidate may be sent to. Closed circuits (nearly always) answer from memory without a round trip; a
   * half-open one lets one call through as its probe, whichever replica claims it first.
   */
  async check(provider: string, model: string): Promise<CircuitCheck> {
    const record = this.#record(provider, model);
    if (record?.state !== 'open') return CLOSED;
    if (this.#now() < record.until) return { kind: 'open', until: record.until };
    try {
      const won = await this.#shared.claim(`${PROBE}${provider}/${model}`, this.#id, this.#coolOffMs);
      if (!won) return { kind: 'open', until: this.#now() + this.#coolOffMs };
    } catch (error) {
      this.#options.onError?.(error as Error); // fail open: the candidate is tried
    }
    this.#emit({ provider, model, state: 'half_open' });
    return PROBE_CHECK;
  }

  /** A call on the candidate failed as failover counts failures (5xx, transport error, nothing before the first byte). */
  async failed(input: { provider: string; model: string; probe: boolean; requestId?: string }): Promise<void> {
    const { provider, model } = input;
    const name = `${provider}/${model}`;
    const record = this.#record(provider, model);
    try {
      const count = input.probe ? this.#failures : await this.#shared.count(`${COUNT}${name}:${record?.epoch ?? 0}`, this.#windowMs);
      if (count < this.#failures || (record?.state === 'open' && !input.probe)) return;
      const until = this.#now() + this.#coolOffMs;
      const opened: Record = { state: 'open', until, epoch: until, failures: count };
      const text = JSON.stringify(opened);
      this.#mirror.set(`${STATE}${name}`, text);
      await this.#shared.put(`${STATE}${name}`, text, null);
      if (input.probe) await this.#shared.delete(`${PROBE}${name}`);
      this.#emit({ provider, model, state: 'open', failures: count, until: new Date(until).toISOString(), requestId: input.requestId });
    } catch (error) {
      this.#options.onError?.(error as Error);
    }
  }

  /** A call on the candidate got an answer: a probe (or any success while it is open) closes the circuit. */
  async succeeded(input: { provider: string; model: string; requestId?: string }): Promise<void> {
    const name = `${input.provider}/${input.model}`;
    const record = this.#record(input.provider, input.model);
    if (record?.state !== 'open') return; // closed: no round trip
    const closed: Record = { state: 'closed', until: 0, epoch: record.epoch };
    const text = JSON.stringify(closed);
    this.#mirror.set(`${STATE}${name}`, text);
    try {
      await this.#shared.put(`${STATE}${name}`, text, this.#windowMs);
      await this.#shared.delete(`${PROBE}${name}`);
    } catch (error) {
      this.#options.onError?.(error as Error);
    }
    this.#emit({ provider: input.provider, model: input.model, state: 'closed', requestId: input.requestId });
  }

  /** A probe claimed but never sent (over budget, the client left): another call may probe. */
  async release(provider: string, model: string): Promise<void> {
    await this.#shared.delete(`${PROBE}${provider}/${model}`).catch((error: Error) => this.#options.onError?.(error));
  }

  close(): void {
    this.#mirror.close();
  }

  #record(provider: string, model: string): Record | null {
    const value = this.#mirror.value(`${STATE}${provider}/${model}`);
    return value === null ? null : parse(value);
  }

  #emit(input: { provider: string; model: string; state: CircuitEvent['state']; failures?: number; until?: string; requestId?: string }): void {
    const event: CircuitEvent = {
      type: 'circuit',
      claw_id: null,
      model: null,
      intervention: null,
      provider: input.provider,
      upstream_model: input.model,
      state: input.state,
    };
    if (input.failures !== undefined) event.failures = input.failures;
    if (input.until !== undefined) event.until = input.until;
    if (input.requestId !== undefined) event.request_id = input.requestId;
    this.#options.onChange?.(event);
  }
}

const CLOSED: CircuitCheck = { kind: 'closed' };
const PROBE_CHECK: CircuitCheck = { kind: 'probe' };

function parse(value: string): Record | null {
  try {
    const record = JSON.parse(value) as Record;
    return record && (record.state === 'open' || record.state === 'closed') && typeof record.until === 'number' ? record : null;
  } catch {
    return null;
  }
}
