// Renders `tollgate status` for a terminal: the live view from the admin API, or the offline view from history files.
import {
  forecastText,
  formatAgo,
  formatCount,
  formatDuration,
  formatMetric,
  formatPercent,
  formatTokens,
  formatUsdMicros,
  fractionTone,
  metricLabel,
} from '../dashboard/static/format.js';
import type { HistoryStatus } from './history-status.ts';
import { renderTable, type Style } from './output.ts';

const STATE_TONE: Record<string, 'ok' | 'high' | 'over' | 'warn' | undefined> = { ok: 'ok', near_limit: 'high', exhausted: 'over', unavailable: 'warn' };
const STATE_LABEL: Record<string, string> = { ok: 'ok', near_limit: 'near limit', exhausted: 'exhausted', unavailable: 'unavailable', unlimited: 'no limit' };

export interface LiveStatus {
  readonly url: string;
  readonly summary: any;
  readonly agents: any[];
  readonly shared: any[];
}

/** Model-policy candidates skipped for repeated failures (docs/model-policy.md), one line each. */
function circuitLines(circuits: any, style: Style, now: number): string[] {
  if (!Array.isArray(circuits) || circuits.length === 0) return [];
  return circuits.map((circuit) => {
    const left = Date.parse(circuit.until) - now;
    const when = circuit.state === 'open' && left > 0 ? `skipped for ${formatDuration(left)} more` : 'half-open: the next call probes it';
    return `${style.red('circuit open')}  ${circuit.provider}/${circuit.model} · ${when}`;
  });
}

function limitName(limit: any): string {
  const parts = [metricLabel(limit.metric)];
  if (limit.window) parts.push(`per ${limit.window}`);
  if (limit.models?.length) parts.push(`(${limit.models.join(', ')})`);
  return parts.join(' ');
}

function limitRows(owner: string, limits: any[], style: Style, now: number, fetchedAt: number): string[][] {
  return limits.map((limit) => {
    const tone = fractionTone(Number(limit.used_fraction) || 0);
    const resetIn = limit.reset_in_ms === null || limit.reset_in_ms === undefined ? '–' : formatDuration(limit.reset_in_ms - (now - fetchedAt));
    return [
      owner,
      limitName(limit),
      formatMetric(limit.metric, limit.used),
      formatMetric(limit.metric, limit.limit),
      style.tone(tone, formatPercent(limit.used_fraction)),
      limit.reserved > 0 ? formatMetric(limit.metric, limit.reserved) : '–',
      style.tone(tone === 'over' ? 'over' : null, resetIn),
      String(limit.behavior ?? '').replace('_', ' '),
      // before the window resets: highlighted (the rate is the spend of the last hour, or of a shorter window)
      style.tone(limit.forecast?.before_reset ? 'high' : null, forecastText(limit, now - fetchedAt)?.replace('at this rate: ', '') ?? '–'),
    ];
  });
}

export function renderLiveStatus(input: { status: LiveStatus; style: Style; now: number; fetchedAt: number }): string {
  const { status, style, now, fetchedAt } = input;
  const { summary } = status;
  const day = summary.last_24h ?? {};
  const totals = summary.totals ?? {};
  const ledger = summary.ledger?.ok ? style.green(`ledger ${summary.ledger.kind} ok`) : style.red(`ledger ${summary.ledger?.kind ?? ''} DOWN`);
  const lines = [
    `${style.bold('tollgate')} at ${status.url}${summary.pod ? ` · pod ${summary.pod}` : ''} · ${ledger}`,
    `last 24h  ${style.bold(formatUsdMicros(day.spend_micros))} · ${formatCount(day.requests)} requests · ${formatTokens(day.input_tokens)} in / ${formatTokens(day.output_tokens)} out${day.unknown_cost_requests ? ` · ${style.orange(`${formatCount(day.unknown_cost_requests)} unknown cost`)}` : ''}`,
    `recorded  ${formatUsdMicros(totals.cost_micros)} over ${formatCount(totals.requests)} calls${totals.unpriced_requests ? ` (${formatCount(totals.unpriced_requests)} unpriced)` : ''}${summary.costs_ready === false ? style.dim(' · still scanning history') : ''}`,
    ...circuitLines(summary.circuits, style, now),
    '',
  ];
  if (status.agents.length === 0) {
    lines.push('no agents (each directory under CLAW_CONTEXT_ROOT with a metadata.json is one)');
    return `${lines.join('\n')}\n`;
  }
  lines.push(
    renderTable({
      style,
      columns: [
        { header: 'AGENT' },
        { header: 'STATE' },
        { header: 'WINDOW' },
        { header: 'SPEND', align: 'right' },
        { header: 'REQUESTS', align: 'right' },
        { header: 'TOKENS IN/OUT', align: 'right' },
        { header: 'UNKNOWN', align: 'right' },
        { header: 'RECORDED', align: 'right' },
      ],
      rows: status.agents.map((agent) => {
        const window = agent.windows?.[agent.windows.length - 1] ?? {};
        const unknown = window.unknown_cost_requests ?? 0;
        return [
          style.bold(agent.id),
          style.tone(STATE_TONE[agent.state], STATE_LABEL[agent.state] ?? agent.state),
          window.window ?? '–',
          formatUsdMicros(window.spend_micros ?? 0),
          formatCount(window.requests ?? 0),
          `${formatTokens(window.input_tokens ?? 0)} / ${formatTokens(window.output_tokens ?? 0)}`,
          unknown > 0 ? style.orange(formatCount(unknown)) : '0',
          formatUsdMicros(agent.totals?.cost_micros ?? 0),
        ];
      }),
    }),
  );
  const limitTable = [
    ...status.agents.flatMap((agent) =>
      limitRows(
        agent.id,
        (agent.limits ?? []).filter((limit: any) => !limit.shared),
        style,
        now,
        fetchedAt,
      ),
    ),
    ...status.shared.flatMap((budget) => limitRows(`shared:${budget.name}`, budget.limits ?? [], style, now, fetchedAt)),
  ];
  if (limitTable.length > 0) {
    lines.push('', style.bold('LIMITS'));
    lines.push(
      renderTable({
        style,
        columns: [
          { header: 'OWNER' },
          { header: 'LIMIT' },
          { header: 'USED', align: 'right' },
          { header: 'OF', align: 'right' },
          { header: 'USE', align: 'right' },
          { header: 'RESERVED', align: 'right' },
          { header: 'FREES IN', align: 'right' },
          { header: 'BEHAVIOR' },
          { header: 'AT THIS RATE', align: 'right' },
        ],
        rows: limitTable.map((row) => [style.bold(row[0]), ...row.slice(1)]),
      }),
    );
  }
  const problems = status.agents.filter((agent) => agent.policy?.status === 'unavailable');
  if (problems.length > 0) {
    lines.push('', style.bold('POLICY PROBLEMS'));
    for (const agent of problems) lines.push(`${style.red('✗')} ${agent.id}: ${agent.policy.reason}`);
  }
  return `${lines.join('\n')}\n`;
}

export function renderHistoryStatus(input: { status: HistoryStatus; style: Style; now: number }): string {
  const { status, style, now } = input;
  const lines = [
    `${style.bold('tollgate')} history in ${status.dir} ${style.dim('(offline: spend from the history files; budgets need a running proxy)')}`,
    '',
  ];
  if (status.agents.length === 0) {
    lines.push('no history yet');
    return `${lines.join('\n')}\n`;
  }
  lines.push(
    renderTable({
      style,
      columns: [
        { header: 'AGENT' },
        { header: 'LAST 1H', align: 'right' },
        { header: 'LAST 24H', align: 'right' },
        { header: 'REQ 24H', align: 'right' },
        { header: 'TOKENS 24H IN/OUT', align: 'right' },
        { header: 'UNKNOWN 24H', align: 'right' },
        { header: 'RECORDED', align: 'right' },
        { header: 'CALLS', align: 'right' },
        { header: 'LAST CALL' },
      ],
      rows: status.agents.map((agent) => [
        style.bold(agent.id),
        formatUsdMicros(agent.last_1h.spend_micros),
        formatUsdMicros(agent.last_24h.spend_micros),
        formatCount(agent.last_24h.requests),
        `${formatTokens(agent.last_24h.input_tokens)} / ${formatTokens(agent.last_24h.output_tokens)}`,
        agent.last_24h.unknown_cost_requests > 0 ? style.orange(formatCount(agent.last_24h.unknown_cost_requests)) : '0',
        formatUsdMicros(agent.totals.spend_micros),
        formatCount(agent.totals.requests),
        agent.last_call_at ? formatAgo(agent.last_call_at, now) : '–',
      ]),
    }),
  );
  if (status.bad_lines > 0) lines.push('', style.yellow(`${status.bad_lines} unreadable history line(s) skipped`));
  return `${lines.join('\n')}\n`;
}
