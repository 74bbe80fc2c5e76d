// A reserve whose reply never came (a stalled Redis): resolved by id in both fail modes, never left held, never uncharged.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createBudgetEngine } from '../../../src/budget/engine.ts';
import type { Admission, AdmitRequest } from '../../../src/budget/admission.ts';
import { parsePolicySource, resolvePolicy } from '../../../src/budget/policy/policy.ts';
import { SettleBacklog } from '../../../src/budget/settle-backlog.ts';
import type { Agent } from '../../../src/auth/agent.ts';
import { LedgerOutcomeUnknownError, type Ledger, type LimitCheck } from '../../../src/ledger/ledger.ts';
import { MemoryLedger } from '../../../src/ledger/memory.ts';
import { clock, fixedPricer, makeAgent, recordingBus } from './helpers.ts';

const HOUR = 3_600_000;
const BUDGET = { limit_usd: 1, window: '1h', max_concurrent: 1 };

/**
 * The embedded ledger behind a stall: `ran` runs each reserve and loses its reply, `late` keeps each reserve to run
 * when `resume()` is called (as Redis runs what it read once it resumes), `lostSettle` runs a settle and loses its reply.
 */
function stalled(memory: MemoryLedger) {
  const state = { reserve: 'ok' as 'ok' | 'ran' | 'late', lostSettles: 0 };
  const waiting: (() => Promise<unknown>)[] = [];
  const unknown = () => new LedgerOutcomeUnknownError('redis ledger unavailable (127.0.0.1:1): Command timed out (outcome unknown)');
  const ledger: Ledger = {
    reserve: async (input) => {
      if (state.reserve === 'ok') return memory.reserve(input);
      if (state.reserve === 'ran') await memory.reserve(input);
      else waiting.push(() => memory.reserve(input));
      throw unknown();
    },
    settle: async (input) => {
      const settled = await memory.settle(input);
      if (state.lostSettles > 0) {
        state.lostSettles -= 1;
        throw unknown();
      }
      return settled;
    },
    release: (id) => memory.release(id),
    record: (input) => memory.record(input),
    standing: (checks) => memory.standing(checks),
    claimOnce: (input) => memory.claimOnce(input),
    health: () => memory.health(),
    close: () => memory.close(),
  };
  const resume = async () => {
    for (const run of waiting.splice(0)) await run().catch(() => undefined);
  };
  return { ledger, state, resume };
}

function setup(failMode: 'open' | 'closed') {
  const time = clock();
  const memory = new MemoryLedger({ now: time.now, sweepIntervalMs: 0 });
  const stall = stalled(memory);
  const recorder = recordingBus();
  const reports: string[] = [];
  const backlog = new SettleBacklog({ ledger: stall.ledger, report: (message) => reports.push(message), retryMs: 60_000 });
  const agent = makeAgent({ id: 'a', budget: BUDGET });
  const engine = createBudgetEngine({
    ledger: stall.ledger,
    pricer: fixedPricer({ 'test/cheap': { inputPerMTok: 1, outputPerMTok: 1 } }),
    policies: {
      effective: (who: Agent, now: number) =>
        resolvePolicy({
          agentId: who.id,
          sources: [parsePolicySource({ raw: who.metadataBudget, source: { kind: 'metadata', file: `${who.dir}/metadata.json` }, prefix: 'budget.' })],
          shared: () => null,
          sharedDir: '/gov/_shared',
          now,
        }),
    },
    bus: recorder.bus,
    failMode,
    defaultMaxOutputTokens: 1000,
    backlog,
    now: time.now,
  });
  let counter = 0;
  const admit = (): Promise<Admission> => {
    const request: AdmitRequest = {
      requestId: `req-${++counter}`,
      agent,
      provider: 'test',
      model: 'cheap',
      requestedModel: 'test/cheap',
      estimate: { inputTokens: 100, maxOutputTokens: 400 },
    };
    return engine.admit(request);
  };
  const checks: LimitCheck[] = [
    { id: 'usd', scope: 'agent:a', metric: 'usd_micros', windowMs: HOUR, limit: 1_000_000 },
    { id: 'requests', scope: 'agent:a', metric: 'requests', windowMs: HOUR, limit: 1_000 },
    { id: 'slots', scope: 'agent:a', metric: 'concurrency', windowMs: 0, limit: 1 },
  ];
  /** [usd used, usd held, requests, slots in use]. */
  const state = async () => {
    const [usd, requests, slots] = await memory.standing(checks);
    return [usd.used, usd.reserved, requests.used, slots.used];
  };
  return { stall, backlog, admit, state, reports, ...recorder };
}

const usage = { usage: { inputTokens: 100, outputTokens: 50 }, costMicros: 150 };

describe('a reserve whose outcome is unknown', () => {
  for (const timing of ['ran', 'late'] as const) {
    const when = timing === 'ran' ? 'ran before its reply was lost' : 'runs only after the call ended';
    it(`open: the call passes and is charged once by id (the reserve ${when}); no hold is left`, async () => {
      const { stall, admit, state, of } = setup('open');
      stall.state.reserve = timing;
      const admission = await admit();
      assert.equal(admission.outcome, 'unavailable');
      assert.equal(admission.error, null);
      assert.ok(admission.ticket, 'a ticket: what the call uses is charged');
      assert.ok(of('intervention').some((event) => event.intervention === 'budget_check_unavailable'));
      stall.state.reserve = 'ok';
      await admission.ticket.settle(usage);
      await stall.resume();
      assert.deepEqual(await state(), [150, 0, 1, 0], 'charged once, nothing held, the slot free');
      assert.equal((await admit()).outcome, 'allow', 'the agent is not locked out');
    });

    it(`closed: 503, and the reserve is released by id when the ledger answers (it ${when})`, async () => {
      const { stall, backlog, admit, state } = setup('closed');
      stall.state.reserve = timing;
      const admission = await admit();
      assert.equal(admission.outcome, 'unavailable');
      assert.equal(admission.error?.code, 'budget_unavailable');
      assert.equal(admission.ticket, null);
      assert.equal(backlog.size, 1, 'its release waits for the ledger');
      stall.state.reserve = 'ok';
      await backlog.drain();
      await stall.resume();
      assert.deepEqual(await state(), [0, 0, 0, 0], 'nothing held, nothing charged');
      assert.equal((await admit()).outcome, 'allow', 'the slot is free at once, not after the lease');
      await backlog.close();
    });
  }

  it('a settle whose reply was lost is kept and retried; the retry counts nothing again', async () => {
    const { stall, backlog, admit, state } = setup('open');
    const admission = await admit();
    assert.equal(admission.outcome, 'allow');
    stall.state.lostSettles = 1;
    await admission.ticket!.settle(usage);
    assert.equal(backlog.size, 1);
    await backlog.drain();
    assert.equal(backlog.size, 0);
    assert.deepEqual(await state(), [150, 0, 1, 0]);
    await backlog.close();
  });
});
