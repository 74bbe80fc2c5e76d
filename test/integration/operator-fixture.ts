// Shared by the dashboard and CLI tests: a tollgate with a UI port, an hour of seeded history, shared budgets and live traffic.
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { buildHistoryEntry, serializeHistoryEntry } from '../../src/history/entry.ts';
import { startHarness, type Harness, type HarnessOptions } from '../helpers/harness.ts';

export const UI_TOKEN = 'dashboard-test-ui-token';

/** Agents with budgets chosen so traffic shows every state: near a limit, blocked, downgraded, unlimited, unknown cost. */
export const OPERATOR_AGENTS: HarnessOptions['agents'] = {
  tiverton: {
    pod: 'desk',
    budget: { limit_usd: 0.5, window: '1h', alerts: [0.5, 0.8], limits: [{ max_requests: 400, window: '24h' }], shared: ['desk-shared'] },
  },
  westin: { pod: 'desk', budget: { limit_usd: 0.25, window: '1h', limits: [{ max_requests: 12, window: '1h' }] } },
  brightline: { pod: 'desk', budget: { limit_usd: 0.4, window: '24h', shared: ['desk-shared'], downgrade_to: 'openai/gpt-4o-mini', downgrade_at: 0.5 } },
  allen: { pod: 'research' },
};

export const SHARED_BUDGETS: Record<string, unknown> = {
  'desk-shared': { limit_usd: 2, window: '24h', behavior: 'soft_alert' },
};

interface SeedCall {
  readonly agoMs: number;
  readonly input: number;
  readonly output: number;
  readonly costMicros: number | null;
  readonly model?: string;
}

/** Calls spread over the past hour (and day), so the window chart and the rolling sums have a shape. */
export function seededCalls(agentId: string): SeedCall[] {
  const minute = 60_000;
  const plans: Record<string, SeedCall[]> = {
    tiverton: Array.from({ length: 24 }, (_, index) => ({
      agoMs: (58 - index * 2.3) * minute,
      input: 2400 + index * 37,
      output: 700 + (index % 5) * 90,
      costMicros: 13_000 + ((index * 7919) % 9000),
    })),
    westin: Array.from({ length: 10 }, (_, index) => ({ agoMs: (52 - index * 4.5) * minute, input: 4100, output: 1200, costMicros: 19_000 + index * 600 })),
    brightline: Array.from({ length: 14 }, (_, index) => ({
      agoMs: (20 * 60 - index * 75) * minute,
      input: 9000,
      output: 2500,
      costMicros: 16_000 + index * 650,
    })),
    allen: [
      ...Array.from({ length: 6 }, (_, index) => ({ agoMs: (45 - index * 7) * minute, input: 1200, output: 300, costMicros: 5_200 + index * 300 })),
      { agoMs: 12 * minute, input: 800, output: 200, costMicros: null, model: 'mystery-1' },
    ],
  };
  return plans[agentId] ?? [];
}

function seedHistory(root: string, agentId: string, now: number): void {
  const dir = join(root, 'history', agentId);
  mkdirSync(dir, { recursive: true });
  const lines = seededCalls(agentId)
    .sort((a, b) => b.agoMs - a.agoMs)
    .map((call, index) => {
      const unknown = call.costMicros === null;
      return serializeHistoryEntry(
        buildHistoryEntry({
          requestId: `seed-${agentId}-${index}`,
          startedAt: now - call.agoMs,
          agentId,
          path: '/v1/chat/completions',
          requestedModel: unknown ? `openrouter/acme/${call.model}` : 'openai/gpt-4o',
          effectiveProvider: unknown ? 'openrouter' : 'openai',
          effectiveModel: unknown ? `acme/${call.model}` : 'gpt-4o',
          statusCode: 200,
          stream: index % 3 === 0,
          response: { format: 'json', json: { seeded: true } },
          usage: { inputTokens: call.input, outputTokens: call.output },
          price: { costMicros: call.costMicros, source: unknown ? 'unknown' : 'price_table' },
          latencyMs: 600 + ((index * 131) % 900),
          outcome: 'complete',
        }),
      );
    });
  appendFileSync(join(dir, 'history.jsonl'), `${lines.join('\n')}\n`);
}

export interface OperatorFixture {
  readonly h: Harness;
  /** The operator UI that startTollgate serves on UI_ADDR. */
  readonly ui: { readonly url: string };
  client(agentId: string): OpenAI;
  /** GET a UI-port JSON route with the admin token. */
  api(path: string): Promise<any>;
  close(): Promise<void>;
}

/**
 * Starts tollgate once to lay out the tree, stops it, seeds history (and drops the ledger journal so the ledger is rebuilt
 * from that history, as after a lost data dir), writes the shared budgets, and starts it again with the UI port.
 */
export async function startOperatorFixture(options: { token?: string | null } = {}): Promise<OperatorFixture> {
  const token = options.token === undefined ? UI_TOKEN : options.token;
  const harnessOptions: HarnessOptions = { agents: OPERATOR_AGENTS, env: { CLLAMA_UI_TOKEN: token ?? '', CLAW_POD: 'desk' } };
  const first = await startHarness(harnessOptions);
  await first.tollgate.close();
  const now = Date.now();
  for (const agentId of Object.keys(OPERATOR_AGENTS ?? {})) seedHistory(first.root, agentId, now);
  rmSync(join(first.root, 'history', '_ledger'), { recursive: true, force: true });
  mkdirSync(join(first.root, 'governance', '_shared'), { recursive: true });
  for (const [name, policy] of Object.entries(SHARED_BUDGETS)) writeFileSync(join(first.root, 'governance', '_shared', `${name}.json`), JSON.stringify(policy));
  const h = await startHarness(harnessOptions, { root: first.root, fake: first.fake });
  const ui = { url: h.tollgate.uiUrl };
  const api = async (path: string) => {
    const response = await fetch(`${ui.url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return response.json();
  };
  for (let attempt = 0; attempt < 200 && !(await api('/api/summary')).costs_ready; attempt++) await new Promise((resolve) => setTimeout(resolve, 25));
  return {
    h,
    ui,
    client: (agentId) => new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.token(agentId), maxRetries: 0, timeout: 10_000 }),
    api,
    close: () => h.close(),
  };
}

/** One chat call; resolves to the HTTP status (200, or the refusal's status). */
export async function chatStatus(client: OpenAI, model = 'openai/gpt-4o', maxTokens = 300): Promise<number> {
  try {
    await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'status report, please' }], max_tokens: maxTokens });
    return 200;
  } catch (error) {
    if (error instanceof OpenAI.APIError && typeof error.status === 'number') return error.status;
    throw error;
  }
}

/** The traffic both tests drive: normal calls, a budget block, downgrades, an unknown-cost model. */
export async function driveTraffic(fixture: OperatorFixture): Promise<{ westinStatuses: number[] }> {
  for (let i = 0; i < 3; i++) await chatStatus(fixture.client('tiverton'));
  const westinStatuses: number[] = [];
  for (let i = 0; i < 4; i++) westinStatuses.push(await chatStatus(fixture.client('westin')));
  for (let i = 0; i < 2; i++) await chatStatus(fixture.client('brightline'));
  await chatStatus(fixture.client('allen'), 'openrouter/acme/mystery-1', 120);
  await chatStatus(fixture.client('allen'));
  return { westinStatuses };
}
