// cllama's GET /costs/api body, exactly its shape: totals, then per agent per (provider, model), 2-space indented.
import { microsToUsd } from '../pricing/money.ts';
import type { AgentTotals, ModelTotals, RetiredTotals } from './cost-totals.ts';

export type PricingStatus = 'priced' | 'unpriced' | 'partial';

/** `priced` when no request was unpriced, `unpriced` when none was priced, else `partial` (as cllama). */
export function pricingStatus(totals: { pricedRequests: number; unpricedRequests: number }): PricingStatus {
  if (totals.unpricedRequests === 0) return 'priced';
  if (totals.pricedRequests === 0) return 'unpriced';
  return 'partial';
}

/**
 * The response object; key order matches cllama's Go structs, agents are sorted as Go sorts map keys. The totals also
 * count what agents since removed from the registry spent (`retired`), which are no longer listed one by one.
 */
export function costsApiBody(agents: readonly AgentTotals[], retired?: RetiredTotals): Record<string, unknown> {
  const body: Record<string, unknown> = {
    total_cost_usd: microsToUsd(agents.reduce((sum, agent) => sum + agent.costMicros, retired?.costMicros ?? 0)),
    total_requests: agents.reduce((sum, agent) => sum + agent.requests, retired?.requests ?? 0),
    unpriced_requests: agents.reduce((sum, agent) => sum + agent.unpricedRequests, retired?.unpricedRequests ?? 0),
  };
  const byAgent: Record<string, unknown> = {};
  for (const agent of [...agents].sort((a, b) => (a.agent < b.agent ? -1 : a.agent > b.agent ? 1 : 0))) {
    byAgent[agent.agent] = {
      total_cost_usd: microsToUsd(agent.costMicros),
      total_requests: agent.requests,
      unpriced_requests: agent.unpricedRequests,
      models: agent.models.map(modelRow),
    };
  }
  body.agents = byAgent;
  return body;
}

/** The serialised body: 2-space indent and a trailing newline, as Go's json.Encoder with SetIndent("", "  "). */
export function renderCostsApi(agents: readonly AgentTotals[], retired?: RetiredTotals): string {
  return `${JSON.stringify(costsApiBody(agents, retired), null, 2)}\n`;
}

function modelRow(model: ModelTotals): Record<string, unknown> {
  return {
    provider: model.provider,
    model: model.model,
    input_tokens: model.inputTokens,
    output_tokens: model.outputTokens,
    cost_usd: microsToUsd(model.costMicros),
    requests: model.requests,
    priced_requests: model.pricedRequests,
    unpriced_requests: model.unpricedRequests,
    pricing_status: pricingStatus(model),
  };
}
