// The overshoot guarantee under random load: waves of concurrent calls of two agents (both routes, JSON and SSE, random
// max_tokens and usage within it) against per-agent USD and output-token limits and a shared USD budget, on both
// ledgers. Spend never passes any limit, every call is served or refused 429, and the ledger agrees with history.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Harness } from '../helpers/harness.ts';
import { startGoverned, type GovernedProxy } from '../helpers/ledger-choice.ts';
import { seededRandom } from '../helpers/random.ts';
import { waitFor } from '../helpers/wait.ts';

const AGENT_USD_MICROS = 40_000;
const AGENT_OUTPUT_TOKENS = 3_000;
const TEAM_USD_MICROS = 60_000;
const AGENTS = ['a', 'b'];

interface Call {
  readonly agent: string;
  readonly anthropic: boolean;
  readonly stream: boolean;
  readonly maxTokens: number;
  readonly output: number;
}

function randomCall(random: () => number): Call {
  const maxTokens = 1 + Math.floor(random() * 400);
  return {
    agent: AGENTS[Math.floor(random() * AGENTS.length)],
    anthropic: random() < 0.5,
    stream: random() < 0.5,
    maxTokens,
    // what the model produced: anything up to the cap the client set (the guarantee's premise)
    output: Math.floor(random() * (maxTokens + 1)),
  };
}

async function send(h: Harness, call: Call): Promise<number> {
  const body = call.anthropic
    ? { model: 'claude-sonnet-4-5', max_tokens: call.maxTokens, stream: call.stream, messages: [{ role: 'user', content: 'hello there' }] }
    : { model: 'openai/gpt-4o', max_tokens: call.maxTokens, stream: call.stream, messages: [{ role: 'user', content: 'hello there' }] };
  const response = await fetch(`${h.url}${call.anthropic ? '/v1/messages' : '/v1/chat/completions'}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${h.token(call.agent)}`,
      'content-type': 'application/json',
      'anthropic-version': '2023-06-01',
      'x-fake-behavior': JSON.stringify({ usage: { input: 2, output: call.output }, delayMs: 5 }),
    },
    body: JSON.stringify(body),
  });
  await response.arrayBuffer();
  return response.status;
}

interface Charged {
  usdMicros: number;
  outputTokens: number;
}

function chargedFromHistory(h: Harness, agent: string): Charged {
  const charged: Charged = { usdMicros: 0, outputTokens: 0 };
  for (const line of h.historyLines(agent)) {
    const usage = line.usage as Record<string, number>;
    charged.usdMicros += Number(usage.cost_micros ?? 0);
    charged.outputTokens += Number(usage.completion_tokens ?? 0);
  }
  return charged;
}

for (const ledger of ['memory', 'redis'] as const)
  describe(`budgets under random concurrent load (${ledger} ledger)`, () => {
    let proxy: GovernedProxy;
    before(async () => {
      const budget = {
        limits: [
          { limit_usd: AGENT_USD_MICROS / 1e6, window: '1h' },
          { max_output_tokens: AGENT_OUTPUT_TOKENS, window: '1d' },
        ],
        shared: ['team'],
      };
      proxy = await startGoverned({
        kind: ledger,
        label: 'budget-random',
        harness: { agents: { a: { budget }, b: { budget } }, shared: { team: { limit_usd: TEAM_USD_MICROS / 1e6, window: '1h' } } },
      });
    });
    after(() => proxy.close());

    it('never spends past an agent, token or shared limit, and the ledger agrees with history', async () => {
      const { h, ui } = proxy;
      const random = seededRandom(ledger === 'memory' ? 11 : 12);
      const statuses: number[] = [];
      for (let wave = 0; wave < 10; wave++) {
        const calls = Array.from({ length: 1 + Math.floor(random() * 16) }, () => randomCall(random));
        statuses.push(...(await Promise.all(calls.map((call) => send(h, call)))));
      }
      const served = statuses.filter((status) => status === 200).length;
      const refused = statuses.filter((status) => status === 429).length;
      assert.equal(served + refused, statuses.length, `only 200 and 429: ${JSON.stringify(statuses)}`);
      assert.ok(served > 10 && refused > 10, `the limits bind during the test (${served} served, ${refused} refused)`);
      await waitFor(() => AGENTS.reduce((sum, agent) => sum + h.historyLines(agent).length, 0) === served, 'a history entry for every served call');

      const charged = Object.fromEntries(AGENTS.map((agent) => [agent, chargedFromHistory(h, agent)]));
      for (const agent of AGENTS) {
        assert.ok(charged[agent].usdMicros <= AGENT_USD_MICROS, `${agent} spent ${charged[agent].usdMicros} µ$ of ${AGENT_USD_MICROS}`);
        assert.ok(charged[agent].outputTokens <= AGENT_OUTPUT_TOKENS, `${agent} used ${charged[agent].outputTokens} output tokens of ${AGENT_OUTPUT_TOKENS}`);
      }
      const teamSpend = AGENTS.reduce((sum, agent) => sum + charged[agent].usdMicros, 0);
      assert.ok(teamSpend <= TEAM_USD_MICROS, `the team spent ${teamSpend} µ$ of ${TEAM_USD_MICROS}`);

      // what the operator sees is what history says: nothing held, every settled micro-dollar counted once
      for (const agent of AGENTS) {
        const detail = (await (await fetch(`${ui.url}/api/agents/${agent}`)).json()) as {
          agent: { limits: { metric: string; used: number; reserved: number }[] };
        };
        const usd = detail.agent.limits.find((limit) => limit.metric === 'usd_micros' && limit.used !== undefined);
        const output = detail.agent.limits.find((limit) => limit.metric === 'output_tokens');
        assert.ok(usd && output, `${agent}'s limits are listed: ${JSON.stringify(detail.agent.limits)}`);
        assert.deepEqual(
          [usd.used, usd.reserved, output.used, output.reserved],
          [charged[agent].usdMicros, 0, charged[agent].outputTokens, 0],
          `${agent}'s standing`,
        );
      }
    });
  });
