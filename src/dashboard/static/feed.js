// The interventions feed: which live events are interventions, how each one reads, and the list element.
import { h } from './dom.js';
import { formatClock, formatDuration, formatMetric, formatPercent, formatUsd, metricLabel } from './format.js';

/** Event types the page subscribes to: the feed's, plus the ones that only mean "numbers changed". */
export const FEED_TYPES = ['intervention', 'budget_alert', 'override_changed', 'policy_error'];
export const REFRESH_TYPES = ['response', 'error'];
export const MAX_FEED_ITEMS = 200;

/** { kind, tone, title, detail } for a feed event, or null when the event is not shown in the feed. */
export function describeEvent(event) {
  if (event.type === 'budget_alert') {
    return {
      kind: 'alert', tone: 'warn', title: `alert at ${formatPercent(event.threshold)}`,
      detail: `${formatUsd(event.used_usd)} of ${formatUsd(event.limit_usd)} per ${event.window}${event.behavior ? ` (${event.behavior.replace('_', ' ')})` : ''}`,
    };
  }
  if (event.type === 'override_changed') {
    const who = event.set_by ? ` by ${event.set_by}` : '';
    const why = event.reason ? `: ${event.reason}` : '';
    return { kind: 'override', tone: 'info', title: event.action === 'cleared' ? 'override cleared' : 'override set', detail: `${summarizeOverride(event.override)}${who}${why}`.replace(/^ by/, 'by') };
  }
  if (event.type === 'policy_error') return { kind: 'policy', tone: 'over', title: 'policy problem', detail: String(event.reason ?? event.error ?? '') };
  if (event.type !== 'intervention') return null;
  const name = event.intervention;
  if (name === 'model_downgraded') return { kind: 'downgrade', tone: 'warn', title: 'downgraded', detail: `${event.from_model ?? event.model} → ${event.to_model}` };
  if (name === 'budget_check_unavailable') return { kind: 'unavailable', tone: 'high', title: 'budget unavailable', detail: `passed unchecked: ${event.reason ?? ''}` };
  if (name === 'unknown_cost_blocked') return { kind: 'block', tone: 'over', title: 'blocked: unknown cost', detail: `${event.effective_model ?? event.model} has no known price` };
  if (name === 'budget_exceeded' || name === 'rate_limited') {
    const soft = event.behavior === 'soft_alert';
    const retry = event.retry_after_ms !== null && event.retry_after_ms !== undefined ? ` · retry in ${formatDuration(event.retry_after_ms)}` : '';
    const over = event.metric ? `${formatMetric(event.metric, event.used)} of ${formatMetric(event.metric, event.limit)} ${metricLabel(event.metric)}${event.window ? ` per ${event.window}` : ''}` : '';
    return {
      kind: soft ? 'soft' : 'block',
      tone: soft ? 'warn' : 'over',
      title: soft ? `over soft limit` : name === 'rate_limited' ? 'blocked: rate limited' : 'blocked: budget exceeded',
      detail: `${event.model ?? ''}${over ? ` · ${over}` : ''}${retry}`,
    };
  }
  return { kind: 'other', tone: 'info', title: String(name ?? event.type), detail: event.model ?? '' };
}

function summarizeOverride(override) {
  if (!override || typeof override !== 'object') return '';
  const parts = [];
  if (override.limit_usd) parts.push(`${formatUsd(override.limit_usd)}`);
  if (override.max_requests) parts.push(`${override.max_requests} requests`);
  if (override.window) parts.push(`per ${override.window}`);
  return parts.join(' ');
}

export function feedItem(event, { fresh = false } = {}) {
  const described = describeEvent(event);
  if (!described) return null;
  return h('li', { class: fresh ? 'fresh' : null, data: { kind: described.kind, agent: event.claw_id ?? '' } },
    h('span', { class: 'when', title: event.ts }, formatClock(event.ts)),
    h('span', { class: 'head' },
      h('span', { class: 'pill', data: { tone: described.tone } }, described.title),
      event.claw_id ? h('a', { class: 'agent-link', href: `#/agents/${encodeURIComponent(event.claw_id)}` }, event.claw_id) : null),
    h('span', { class: 'detail' }, described.detail));
}
