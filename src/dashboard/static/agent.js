// One agent's page: state and override, its limits with sources, spend over the window, policy provenance, recent calls.
import { h } from './dom.js';
import { limitBar } from './bars.js';
import { spendChart } from './chart.js';
import { formatAgo, formatClock, formatCount, formatSpend, formatTokens, formatUsdMicros } from './format.js';
import { statePill } from './overview.js';
import { untrusted } from './text.js';

/** The window the chart shows first: that of the agent's own USD limit, else its longest window. */
export function defaultChartWindow(agent) {
  const own = (agent.limits ?? []).find((limit) => limit.metric === 'usd_micros' && limit.scope === `agent:${agent.id}` && !limit.models);
  if (own) return { window: own.window, window_ms: own.window_ms };
  const windows = agent.windows ?? [];
  return windows.length
    ? { window: windows[windows.length - 1].window, window_ms: windows[windows.length - 1].window_ms }
    : { window: '24h', window_ms: 86_400_000 };
}

function ownUsdLimit(agent, windowMs) {
  const limit = (agent.limits ?? []).find(
    (candidate) => candidate.metric === 'usd_micros' && candidate.scope === `agent:${agent.id}` && !candidate.models && candidate.window_ms === windowMs,
  );
  return limit ? limit.limit : null;
}

export function renderAgent({ detail, history, chartWindow, fetchedAt, onWindow }) {
  const agent = detail.agent;
  const windows = agent.windows ?? [];
  const shownWindow = windows.find((window) => window.window_ms === chartWindow.window_ms);
  return h(
    'div',
    { class: 'agent-page', data: { agent: agent.id } },
    h('a', { class: 'crumb', href: '#/' }, '← All agents'),
    h('div', { class: 'agent-head' }, h('h1', { class: 'agent-id' }, agent.id), statePill(agent.state)),
    h(
      'div',
      { class: 'meta' },
      metaItem('pod', agent.pod),
      metaItem('service', agent.service),
      metaItem('type', agent.type),
      h(
        'span',
        {},
        'recorded ',
        h(
          'b',
          { data: { field: 'total_cost', value: agent.totals?.cost_micros ?? 0 } },
          formatSpend(agent.totals?.cost_micros ?? 0, agent.totals?.unpriced_requests),
        ),
        ` over ${formatCount(agent.totals?.requests ?? 0)} calls`,
        agent.totals?.unpriced_requests > 0 ? h('span', { class: 'nonzero' }, ` (${formatCount(agent.totals.unpriced_requests)} unpriced)`) : null,
      ),
    ),
    overrideCard(detail),
    agent.policy?.status === 'unavailable' ? h('div', { class: 'banner' }, 'Budget check unavailable: ', untrusted(agent.policy.reason, { max: 400 })) : null,
    h(
      'section',
      {},
      h(
        'div',
        { class: 'tiles' },
        windows.map((window) => windowTile(window)),
      ),
    ),
    h(
      'div',
      { class: 'two' },
      h(
        'section',
        {},
        h('h2', {}, 'Spend over time'),
        h(
          'div',
          { class: 'card chart-card', id: 'chart' },
          h(
            'div',
            { class: 'chart-head' },
            h(
              'div',
              {},
              h(
                'span',
                { class: 'total', data: { field: 'chart_total' } },
                formatSpend(shownWindow?.spend_micros ?? sum(history.entries), shownWindow?.unknown_cost_requests ?? unpriced(history.entries)),
              ),
              h('span', { class: 'muted' }, ` in the last ${chartWindow.window}`),
            ),
            windows.length > 1
              ? h(
                  'div',
                  { class: 'window-buttons' },
                  windows.map((window) =>
                    h(
                      'button',
                      {
                        type: 'button',
                        'aria-pressed': window.window_ms === chartWindow.window_ms ? 'true' : 'false',
                        on: { click: () => onWindow({ window: window.window, window_ms: window.window_ms }) },
                      },
                      window.window,
                    ),
                  ),
                )
              : null,
          ),
          spendChart({ entries: history.entries, windowMs: chartWindow.window_ms, now: fetchedAt, limitMicros: ownUsdLimit(agent, chartWindow.window_ms) }),
          history.truncated ? h('div', { class: 'sub' }, `showing the first ${formatCount(history.entries.length)} calls of the window`) : null,
        ),
      ),
      h(
        'section',
        {},
        h('h2', {}, 'Budgets'),
        h(
          'div',
          { class: 'card limits-card', id: 'limits' },
          (agent.limits ?? []).length
            ? h(
                'div',
                { class: 'bars' },
                agent.limits.map((limit) => limitBar(limit, { fetchedAt, showSource: true })),
              )
            : h('span', { class: 'faint' }, 'No limit applies to this agent.'),
        ),
      ),
    ),
    detail.loop ? loopCard(detail.loop) : null,
    detail.model_policy ? h('section', {}, h('h2', {}, 'Model policy'), modelPolicyCard(detail.model_policy)) : null,
    h('section', {}, h('h2', {}, 'Recent calls'), recentCalls(detail.recent?.calls ?? [], fetchedAt)),
    h('section', {}, h('h2', {}, 'Policy in force'), policyTable(detail.policy)),
  );
}

/** The loop breaker's current episode: which detector, the repeated fingerprint (a hash), how often, since when. */
function loopCard(loop) {
  const what = { same_request: 'the same request', same_tool_call: 'the same tool call', velocity: 'a burst of requests' }[loop.detector] ?? 'a loop';
  return h(
    'section',
    { id: 'loop' },
    h('h2', {}, 'Loop detected'),
    h(
      'div',
      { class: 'card banner', data: { level: loop.level } },
      h(
        'div',
        {},
        `Repeating ${what} `,
        h('b', { data: { field: 'loop_count' } }, String(loop.count)),
        ' times · ',
        h('span', { class: 'tag' }, String(loop.level).replace('_', ' ')),
        loop.stopped_until ? ` · stopped until ${loop.stopped_until}` : '',
      ),
      h(
        'div',
        { class: 'sub' },
        'fingerprint ',
        h('code', { data: { field: 'loop_fingerprint' } }, untrusted(loop.fingerprint || '–', { max: 64 })),
        ` · first ${loop.first_at} · last ${loop.last_at}`,
      ),
    ),
  );
}

/** The allow list in force (slots, default, failover order) and the circuits of its models that are open. */
function modelPolicyCard(policy) {
  if (policy.status === 'invalid') {
    return h('div', { class: 'banner' }, 'Model policy unusable: every model call is refused. ', untrusted((policy.problems ?? []).join('; '), { max: 400 }));
  }
  const circuits = policy.circuits ?? [];
  return h(
    'div',
    { class: 'card', id: 'model-policy' },
    h(
      'div',
      { class: 'sub' },
      `${policy.mode === 'reject' ? 'rejects' : 'clamps'} other models · from `,
      untrusted(policy.file, { max: 200, props: { class: 'mono' } }),
    ),
    h(
      'table',
      { class: 'calls' },
      h('thead', {}, h('tr', {}, h('th', {}, 'slot'), h('th', {}, 'model'), h('th', {}, ''))),
      h(
        'tbody',
        {},
        (policy.allowed ?? []).map((entry) => {
          const circuit = circuits.find((row) => `${row.provider}/${row.model}` === String(entry.ref).trim());
          const notes = [
            entry.ref === policy.default ? 'default' : null,
            (policy.failover ?? []).includes(entry.ref) ? `failover #${policy.failover.indexOf(entry.ref) + 1}` : null,
          ]
            .filter(Boolean)
            .join(' · ');
          return h(
            'tr',
            {},
            h('td', {}, untrusted(entry.slot, { max: 40 })),
            h('td', { class: 'mono' }, untrusted(entry.ref, { max: 120 })),
            h(
              'td',
              { class: circuit ? 'nonzero' : 'muted' },
              circuit ? `circuit ${circuit.state === 'open' ? 'open until' : 'half-open since'} ${formatClock(circuit.until)}` : notes,
            ),
          );
        }),
      ),
    ),
  );
}

function metaItem(label, value) {
  return value ? h('span', {}, `${label} `, untrusted(value, { max: 80, tag: 'b' })) : null;
}

function windowTile(window) {
  return h(
    'div',
    { class: 'card tile', data: { window: window.window, spend: window.spend_micros, requests: window.requests } },
    h('div', { class: 'label' }, `Last ${window.window}`),
    h('div', { class: 'value' }, formatSpend(window.spend_micros, window.unknown_cost_requests)),
    h(
      'div',
      { class: 'sub' },
      `${formatCount(window.requests)} requests · ${formatTokens(window.input_tokens)} in / ${formatTokens(window.output_tokens)} out`,
    ),
    window.reserved_micros > 0 ? h('div', { class: 'sub' }, `${formatUsdMicros(window.reserved_micros)} reserved by calls in flight`) : null,
    window.unknown_cost_requests > 0 ? h('div', { class: 'sub nonzero' }, `${formatCount(window.unknown_cost_requests)} with unknown cost`) : null,
  );
}

function overrideCard(detail) {
  const content = detail.override?.present ? detail.override.content : null;
  if (!content) return null;
  return h(
    'div',
    { class: 'card override-card' },
    h('b', {}, 'Governance override'),
    content.reason ? [' · ', untrusted(content.reason, { max: 500 })] : null,
    content.set_by ? h('span', { class: 'muted' }, ' · set by ', untrusted(content.set_by, { max: 200 })) : null,
    content.expires_at ? h('span', { class: 'muted' }, ' · until ', untrusted(content.expires_at, { max: 40 })) : null,
    h('div', { class: 'limit-source' }, detail.override.file),
  );
}

function recentCalls(calls, now) {
  if (calls.length === 0) return h('div', { class: 'card empty' }, 'No calls recorded yet.');
  return h(
    'div',
    { class: 'card table-wrap' },
    h(
      'table',
      { class: 'calls' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', {}, 'Time'),
          h('th', {}, 'Model'),
          h('th', { class: 'num' }, 'Status'),
          h('th', { class: 'num' }, 'In'),
          h('th', { class: 'num' }, 'Out'),
          h('th', { class: 'num' }, 'Cost'),
          h('th', { class: 'num' }, 'Latency'),
          h('th', {}, 'Notes'),
        ),
      ),
      h(
        'tbody',
        {},
        calls.map((call) =>
          h(
            'tr',
            { data: { call: call.id ?? call.request_id } },
            h('td', { title: call.ts }, formatClock(call.ts), h('span', { class: 'sub' }, formatAgo(call.ts, now))),
            h(
              'td',
              { class: 'model' },
              untrusted(call.requested_model ?? call.model, { max: 80, props: { class: 'mono' } }) ?? '–',
              call.stream ? h('span', { class: 'tag' }, 'stream') : null,
            ),
            h(
              'td',
              { class: 'num status-code', data: { ok: call.status_code >= 200 && call.status_code < 300 ? 'true' : 'false' } },
              String(call.status_code ?? '–'),
            ),
            h('td', { class: 'num' }, formatTokens(call.input_tokens)),
            h('td', { class: 'num' }, formatTokens(call.output_tokens)),
            h(
              'td',
              { class: 'num', data: { value: call.cost_micros ?? '' } },
              call.cost_micros === null || call.cost_micros === undefined ? h('span', { class: 'nonzero' }, 'unknown') : formatUsdMicros(call.cost_micros),
            ),
            h('td', { class: 'num' }, call.latency_ms === null || call.latency_ms === undefined ? '–' : `${formatCount(call.latency_ms)} ms`),
            h(
              'td',
              { class: 'muted' },
              untrusted(
                [call.outcome && call.outcome !== 'complete' ? call.outcome : null, ...(call.interventions ?? []).map(interventionName)]
                  .filter(Boolean)
                  .join(', '),
                { max: 120 },
              ),
            ),
          ),
        ),
      ),
    ),
  );
}

function interventionName(intervention) {
  return typeof intervention === 'string' ? intervention : (intervention?.type ?? intervention?.intervention ?? JSON.stringify(intervention));
}

function policyTable(policy) {
  if (!policy) return null;
  if (policy.status !== 'ok') {
    return h(
      'div',
      { class: 'card' },
      h(
        'ul',
        { class: 'problems' },
        (policy.problems ?? [policy.reason]).map((problem) => h('li', {}, untrusted(problem, { max: 400 }))),
      ),
    );
  }
  const rows = Object.entries(policy.fields ?? {});
  if (rows.length === 0) return h('div', { class: 'card empty' }, 'No budget policy: metadata.json has no budget and there is no override.');
  return h(
    'div',
    { class: 'card table-wrap' },
    h(
      'table',
      { class: 'policy' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Field'), h('th', {}, 'Value'), h('th', {}, 'From'))),
      h(
        'tbody',
        {},
        rows.map(([field, entry]) =>
          h(
            'tr',
            {},
            h('td', {}, field),
            h('td', { class: 'mono' }, untrusted(typeof entry.value === 'object' ? JSON.stringify(entry.value) : String(entry.value), { max: 400 })),
            h(
              'td',
              {},
              entry.source
                ? [
                    h('span', { class: 'pill' }, entry.source.kind.replace('_', ' ')),
                    ' ',
                    untrusted(entry.source.file, { max: 300, tag: 'span', props: { class: 'limit-source' } }),
                  ]
                : '–',
            ),
          ),
        ),
      ),
    ),
  );
}

function sum(entries) {
  return entries.reduce((total, entry) => total + (Number(entry.cost_micros) || 0), 0);
}

function unpriced(entries) {
  return entries.filter((entry) => entry.cost_micros === null || entry.cost_micros === undefined).length;
}
