// Builds a budget engine over the real MemoryLedger with an injected clock, for the engine tests.
import { createBudgetEngine } from '../../../src/budget/engine.ts';
import type { Admission, AdmitRequest, BudgetEngine } from '../../../src/budget/admission.ts';
import { parsePolicySource, resolvePolicy, type PolicyResult } from '../../../src/budget/policy/policy.ts';
import type { Agent } from '../../../src/auth/agent.ts';
import type { Ledger } from '../../../src/ledger/ledger.ts';
import { MemoryLedger } from '../../../src/ledger/memory.ts';
import type { Pricer } from '../../../src/pricing/pricer.ts';
import { clock, fixedPricer, makeAgent, recordingBus } from './helpers.ts';

/** `test/cheap` costs 1 µ$ per token in and out; `test/pricey` 10 µ$; `test/free-text` has no price. */
export const PRICES = {
  'test/cheap': { inputPerMTok: 1, outputPerMTok: 1 },
  'test/pricey': { inputPerMTok: 10, outputPerMTok: 10 },
  'other/cheap': { inputPerMTok: 1, outputPerMTok: 1 },
};

export function setup(
  input: {
    failMode?: 'open' | 'closed';
    shared?: Record<string, unknown>;
    ledger?: Ledger;
    pricer?: Pricer;
    defaultMaxOutputTokens?: number;
    leaseMs?: number;
  } = {},
) {
  const time = clock();
  const memory = new MemoryLedger({ now: time.now, sweepIntervalMs: 0 });
  const ledger = input.ledger ?? memory;
  const recorder = recordingBus();
  const shared = input.shared ?? {};
  const policies = {
    effective(agent: Agent, now: number): PolicyResult {
      const withError = agent as Agent & { contextOverrideError?: string };
      return resolvePolicy({
        agentId: agent.id,
        sources: [
          parsePolicySource({ raw: agent.metadataBudget, source: { kind: 'metadata', file: `${agent.dir}/metadata.json` }, prefix: 'budget.' }),
          parsePolicySource({
            raw: withError.contextOverrideError ? 'unparsable' : agent.contextOverride,
            source: { kind: 'context_override', file: `${agent.dir}/budget-override.json` },
          }),
        ],
        shared: (name) =>
          name in shared ? { parsed: parsePolicySource({ raw: shared[name], source: { kind: 'shared', file: `/gov/_shared/${name}.json` } }) } : null,
        sharedDir: '/gov/_shared',
        now,
      });
    },
  };
  const engine: BudgetEngine = createBudgetEngine({
    ledger,
    pricer: input.pricer ?? fixedPricer(PRICES),
    policies,
    bus: recorder.bus,
    failMode: input.failMode ?? 'open',
    defaultMaxOutputTokens: input.defaultMaxOutputTokens ?? 1000,
    leaseMs: input.leaseMs,
    now: time.now,
  });
  let counter = 0;
  const admit = (request: {
    agent?: Agent;
    budget?: unknown;
    model?: string;
    inputTokens?: number;
    maxOutputTokens?: number | null;
    choices?: number;
    requestedModel?: string;
    headers?: Record<string, string>;
    fingerprint?: AdmitRequest['fingerprint'];
  }): Promise<Admission> => {
    const model = request.model ?? 'test/cheap';
    const slash = model.indexOf('/');
    const full: AdmitRequest = {
      requestId: `req-${++counter}`,
      agent: request.agent ?? makeAgent({ budget: request.budget }),
      provider: model.slice(0, slash),
      model: model.slice(slash + 1),
      requestedModel: request.requestedModel ?? model,
      estimate: {
        inputTokens: request.inputTokens ?? 100,
        maxOutputTokens: request.maxOutputTokens === undefined ? 400 : request.maxOutputTokens,
        choices: request.choices,
      },
      ...(request.headers ? { headers: request.headers } : {}),
      ...(request.fingerprint ? { fingerprint: request.fingerprint } : {}),
    };
    return engine.admit(full);
  };
  return { time, ledger: memory, engine, admit, ...recorder };
}

/** Settles an admission to `micros` of cost with usage that matches test/cheap prices. */
export async function settle(admission: Admission, micros: number, options: { unknown?: boolean } = {}): Promise<void> {
  if (!admission.ticket) throw new Error('admission has no ticket');
  await admission.ticket.settle({ usage: { inputTokens: micros, outputTokens: 0 }, costMicros: options.unknown ? null : micros });
}
