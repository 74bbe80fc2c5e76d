// The overview page: totals, the agents table with budget bars and headroom countdowns, pods and shared budgets, the feed.
import { h } from './dom.js';
import { headroomCell, limitBar } from './bars.js';
import { formatCount, formatSpend, formatTokens } from './format.js';
import { clip, untrusted, visibleText } from './text.js';

export const STATE_TONE = { ok: 'ok', near_limit: 'high', exhausted: 'over', unavailable: 'warn', unlimited: null };
const STATE_LABEL = { ok: 'ok', near_limit: 'near limit', exhausted: 'exhausted', unavailable: 'unavailable', unlimited: 'no limit' };
const BARS_IN_ROW = 3;

export function statePill(state) {
  return h('span', { class: 'pill', data: { tone: STATE_TONE[state], state } }, STATE_LABEL[state] ?? state);
}

/** The window a row shows: the longest one the agent's limits use (its own usage there), else 24h. */
export function mainWindow(agent) {
  const windows = agent.windows ?? [];
  return windows.length ? windows[windows.length - 1] : null;
}

export function renderOverview({ summary, agents, shared, fetchedAt, feed }) {
  return h(
    'div',
    { class: 'overview' },
    h('div', {}, summaryTiles(summary), h('section', { id: 'agents' }, h('h2', {}, `Agents (${agents.length})`), agentsTable(agents, fetchedAt))),
    h('aside', { class: 'side' }, h('section', { id: 'interventions' }, feed)),
    h(
      'div',
      {},
      h('section', { id: 'pods' }, h('h2', {}, 'Pods'), podsTable(agents)),
      h('section', { id: 'shared' }, h('h2', {}, 'Shared budgets'), sharedBudgets(shared, fetchedAt)),
    ),
  );
}

function tile({ label, value, sub, field, raw }) {
  return h(
    'div',
    { class: 'card tile', data: { field, value: raw } },
    h('div', { class: 'label' }, label),
    h('div', { class: 'value' }, value),
    sub ? h('div', { class: 'sub' }, sub) : null,
  );
}

function summaryTiles(summary) {
  const day = summary.last_24h ?? {};
  const totals = summary.totals ?? {};
  const states = summary.agents_by_state ?? {};
  return h(
    'div',
    { class: 'tiles', id: 'summary' },
    tile({
      label: 'Spend, last 24h',
      value: formatSpend(day.spend_micros, day.unknown_cost_requests),
      raw: day.spend_micros,
      field: 'spend_24h',
      sub: `${formatCount(day.requests)} requests${unknownNote(day.unknown_cost_requests, 'of unknown cost')}`,
    }),
    tile({
      label: 'Tokens, last 24h',
      value: `${formatTokens(day.input_tokens)} in`,
      raw: day.input_tokens,
      field: 'tokens_24h',
      sub: `${formatTokens(day.output_tokens)} out`,
    }),
    tile({
      label: 'Cost recorded',
      value: formatSpend(totals.cost_micros, totals.unpriced_requests),
      raw: totals.cost_micros,
      field: 'total_cost',
      sub: `${formatCount(totals.requests)} calls${unknownNote(totals.unpriced_requests, 'unpriced')}${summary.costs_ready === false ? ' · still scanning history' : ''}`,
    }),
    tile({
      label: 'Unknown cost, last 24h',
      value: formatCount(day.unknown_cost_requests ?? 0),
      raw: day.unknown_cost_requests ?? 0,
      field: 'unknown_24h',
      sub: `${formatCount(totals.unpriced_requests ?? 0)} unpriced calls recorded`,
    }),
    h(
      'div',
      { class: 'card tile', data: { field: 'agents', value: summary.agents } },
      h('div', { class: 'label' }, 'Agents'),
      h('div', { class: 'value' }, formatCount(summary.agents)),
      h(
        'ul',
        { class: 'states' },
        Object.entries(states)
          .filter(([, count]) => count > 0)
          .map(([state, count]) => h('li', { data: { tone: STATE_TONE[state], state } }, h('b', {}, formatCount(count)), ` ${STATE_LABEL[state] ?? state}`)),
      ),
    ),
  );
}

function agentsTable(agents, fetchedAt) {
  if (agents.length === 0) return h('div', { class: 'card empty' }, 'No agents yet: each directory under CLAW_CONTEXT_ROOT with a metadata.json is one.');
  return h(
    'div',
    { class: 'card table-wrap' },
    h(
      'table',
      { class: 'agents' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', {}, 'Agent'),
          h('th', {}, 'State'),
          h('th', { class: 'num' }, 'Spend'),
          h('th', {}, 'Budgets'),
          h('th', { title: 'when the tightest limit starts to free up' }, 'Headroom in'),
          h('th', { class: 'num' }, 'Requests'),
          h('th', { class: 'num wrap', title: 'requests whose cost was not known' }, 'Unknown cost'),
          h('th', { class: 'num', title: 'all recorded calls (as /costs/api)' }, 'Recorded'),
        ),
      ),
      h(
        'tbody',
        {},
        agents.map((agent) => agentRow(agent, fetchedAt)),
      ),
    ),
  );
}

function agentRow(agent, fetchedAt) {
  const window = mainWindow(agent) ?? {};
  const limits = agent.limits ?? [];
  const shown = [...limits].sort((a, b) => (b.used_fraction ?? 0) - (a.used_fraction ?? 0)).slice(0, BARS_IN_ROW);
  const unknown = window.unknown_cost_requests ?? 0;
  return h(
    'tr',
    { data: { agent: agent.id, state: agent.state } },
    h(
      'td',
      {},
      h('a', { class: 'agent-link', href: `#/agents/${encodeURIComponent(agent.id)}`, title: agent.id }, agent.id),
      agent.override
        ? h(
            'span',
            { class: 'tag', title: clip(visibleText(`${agent.override.reason ?? ''}${agent.override.set_by ? ` (${agent.override.set_by})` : ''}`), 600) },
            'override',
          )
        : null,
      h(
        'span',
        { class: 'sub' },
        agent.pod || agent.type ? [untrusted(agent.pod, { max: 28 }), agent.pod && agent.type ? ' · ' : null, untrusted(agent.type, { max: 20 })] : '–',
      ),
    ),
    h(
      'td',
      {},
      statePill(agent.state),
      agent.policy?.status === 'unavailable' ? h('span', { class: 'sub', title: clip(visibleText(agent.policy.reason ?? ''), 600) }, 'policy problem') : null,
    ),
    h(
      'td',
      { class: 'num', data: { field: 'spend', value: window.spend_micros ?? 0, window: window.window } },
      h('span', { class: 'big' }, formatSpend(window.spend_micros ?? 0, unknown)),
      h('span', { class: 'sub' }, window.window ? `last ${window.window}` : ''),
    ),
    h(
      'td',
      { class: 'budgets' },
      limits.length === 0
        ? h('span', { class: 'faint' }, 'no limit set')
        : h(
            'div',
            { class: 'bars' },
            shown.map((limit) => limitBar(limit, { fetchedAt })),
            limits.length > shown.length
              ? h('a', { class: 'more', href: `#/agents/${encodeURIComponent(agent.id)}` }, `+${limits.length - shown.length} more`)
              : null,
          ),
    ),
    h('td', {}, headroomCell(limits, fetchedAt)),
    h(
      'td',
      { class: 'num' },
      h('span', { class: 'big', data: { field: 'requests', value: window.requests ?? 0 } }, formatCount(window.requests ?? 0)),
      h(
        'span',
        { class: 'sub', data: { field: 'tokens', input: window.input_tokens ?? 0, output: window.output_tokens ?? 0 }, title: 'tokens in / out' },
        `${formatTokens(window.input_tokens ?? 0)} in · ${formatTokens(window.output_tokens ?? 0)} out`,
      ),
    ),
    h('td', { class: unknown > 0 ? 'num nonzero' : 'num', data: { field: 'unknown_cost', value: unknown } }, formatCount(unknown)),
    h(
      'td',
      { class: 'num', data: { field: 'total_cost', value: agent.totals?.cost_micros ?? 0 } },
      formatSpend(agent.totals?.cost_micros ?? 0, agent.totals?.unpriced_requests),
      h('span', { class: 'sub' }, `${formatCount(agent.totals?.requests ?? 0)} calls${unknownNote(agent.totals?.unpriced_requests, 'unpriced')}`),
    ),
  );
}

/** " · 3 unpriced" when there are such calls, else nothing. */
function unknownNote(count, what) {
  return count > 0 ? ` · ${formatCount(count)} ${what}` : '';
}

function podsTable(agents) {
  const pods = new Map();
  for (const agent of agents) {
    const name = agent.pod || '(no pod)';
    const pod = pods.get(name) ?? { name, agents: 0, blocked: 0, cost: 0, unpriced: 0, calls: 0, spend: 0, unknown: 0 };
    pod.agents += 1;
    if (agent.state === 'exhausted') pod.blocked += 1;
    pod.cost += agent.totals?.cost_micros ?? 0;
    pod.calls += agent.totals?.requests ?? 0;
    pod.unpriced += agent.totals?.unpriced_requests ?? 0;
    pod.spend += mainWindow(agent)?.spend_micros ?? 0;
    pod.unknown += mainWindow(agent)?.unknown_cost_requests ?? 0;
    pods.set(name, pod);
  }
  if (pods.size === 0) return h('div', { class: 'card empty' }, 'No pods.');
  return h(
    'div',
    { class: 'card table-wrap' },
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', {}, 'Pod'),
          h('th', { class: 'num' }, 'Agents'),
          h('th', { class: 'num' }, 'Exhausted'),
          h('th', { class: 'num', title: "sum of each agent's spend over its own window" }, 'Spend (windows)'),
          h('th', { class: 'num' }, 'Recorded'),
          h('th', { class: 'num' }, 'Calls'),
        ),
      ),
      h(
        'tbody',
        {},
        [...pods.values()]
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((pod) =>
            h(
              'tr',
              { data: { pod: pod.name } },
              h('td', { class: 'agent-link' }, untrusted(pod.name, { max: 60 })),
              h('td', { class: 'num' }, formatCount(pod.agents)),
              h('td', { class: pod.blocked > 0 ? 'num nonzero' : 'num' }, formatCount(pod.blocked)),
              h('td', { class: 'num', title: pod.unknown ? `${formatCount(pod.unknown)} calls of unknown cost` : null }, formatSpend(pod.spend, pod.unknown)),
              h('td', { class: 'num', title: pod.unpriced ? `${formatCount(pod.unpriced)} unpriced calls` : null }, formatSpend(pod.cost, pod.unpriced)),
              h('td', { class: 'num' }, formatCount(pod.calls)),
            ),
          ),
      ),
    ),
  );
}

function sharedBudgets(shared, fetchedAt) {
  if (!shared || shared.length === 0) return h('div', { class: 'card empty' }, 'No shared budgets (declare them in $CLAW_GOVERNANCE_DIR/_shared/<name>.json).');
  return h(
    'div',
    { class: 'shared-grid' },
    shared.map((budget) =>
      h(
        'div',
        { class: 'card shared-card', data: { shared: budget.name } },
        h('h3', {}, untrusted(budget.name, { max: 60 })),
        h(
          'div',
          { class: 'members' },
          budget.members.length
            ? `${budget.members.length} member${budget.members.length === 1 ? '' : 's'}: ${clip(budget.members.join(', '), 400)}`
            : 'no members',
        ),
        budget.limits.length
          ? h(
              'div',
              { class: 'bars' },
              budget.limits.map((limit) => limitBar(limit, { fetchedAt, inShared: true })),
            )
          : h('span', { class: 'faint' }, 'no limit set'),
        budget.problems.length
          ? h(
              'ul',
              { class: 'problems' },
              budget.problems.map((problem) => h('li', {}, untrusted(problem, { max: 400 }))),
            )
          : null,
      ),
    ),
  );
}
