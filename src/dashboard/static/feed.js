// The interventions feed: which live events are interventions, how each one reads, and the list element.
import { h } from './dom.js';
import { formatClock, formatDuration, formatMetric, formatPercent, formatUsd, metricLabel } from './format.js';
import { clip, untrusted, visibleText } from './text.js';

/** Event types the page subscribes to: the feed's, plus the ones that only mean "numbers changed". */
export const FEED_TYPES = ['intervention', 'budget_alert', 'override_changed', 'policy_error', 'failover', 'circuit'];
export const REFRESH_TYPES = ['response', 'error'];
export const MAX_FEED_ITEMS = 200;

/**
 * { kind, tone, title, detail } for a feed event, or null when the event is not shown in the feed. `detail` is a list of
 * parts: plain strings written here, and elements for what came from agents or files (see text.js).
 */
export function describeEvent(event) {
  if (event.type === 'budget_alert') {
    return {
      kind: 'alert',
      tone: 'warn',
      title: `alert at ${formatPercent(event.threshold)}`,
      detail: [
        `${formatUsd(event.used_usd)} of ${formatUsd(event.limit_usd)} per `,
        untrusted(event.window, { max: 40 }),
        event.behavior ? [' (', untrusted(String(event.behavior).replace('_', ' '), { max: 40 }), ')'] : null,
      ],
    };
  }
  if (event.type === 'override_changed') {
    const summary = summarizeOverride(event.override);
    const who = event.set_by ? [summary ? ' by ' : 'by ', untrusted(event.set_by, { max: 60 })] : null;
    const why = event.reason ? [summary || who ? ': ' : '', untrusted(event.reason, { max: 200 })] : null;
    return { kind: 'override', tone: 'info', title: event.action === 'cleared' ? 'override cleared' : 'override set', detail: [summary, who, why] };
  }
  if (event.type === 'failover') {
    return {
      kind: 'failover',
      tone: 'warn',
      title: 'failover',
      detail: [
        model(`${event.from_provider}/${event.from_model}`),
        ' → ',
        model(`${event.to_provider}/${event.to_model}`),
        ' · ',
        untrusted(event.reason, { max: 60 }),
      ],
    };
  }
  if (event.type === 'circuit') {
    const until = event.until ? ` until ${formatClock(event.until)}` : '';
    const title = event.state === 'open' ? 'circuit open' : event.state === 'half_open' ? 'circuit probe' : 'circuit closed';
    return {
      kind: 'circuit',
      tone: event.state === 'open' ? 'over' : 'info',
      title,
      detail: [model(`${event.provider}/${event.upstream_model}`), event.state === 'open' ? `${until} after ${event.failures ?? '?'} failures` : ''],
    };
  }
  if (event.type === 'policy_error')
    return { kind: 'policy', tone: 'over', title: 'policy problem', detail: [untrusted(event.reason ?? event.error ?? '', { max: 300 })] };
  if (event.type !== 'intervention') return null;
  const name = event.intervention;
  if (CLAMPS.has(name))
    return {
      kind: 'clamp',
      tone: name.endsWith('_clamped') ? 'warn' : 'info',
      title: name.endsWith('_clamped') ? 'model clamped' : 'model resolved',
      detail: [model(event.from_model ?? event.model ?? '(none)'), ' → ', model(event.to_model), ` · ${name}`],
    };
  if (name === 'failover_over_budget')
    return { kind: 'block', tone: 'over', title: 'fallback over budget', detail: [model(`${event.provider}/${event.upstream_model}`), ' skipped'] };
  if (name === 'policy_failover_unreachable')
    return {
      kind: 'clamp',
      tone: 'warn',
      title: 'no fallback reachable',
      detail: [model(`${event.provider}/${event.upstream_model}`), " is the only candidate: the policy's other models are not in its failover slots"],
    };
  if (name === 'circuit_open')
    return { kind: 'circuit', tone: 'warn', title: 'skipped: circuit open', detail: [model(`${event.provider}/${event.upstream_model}`)] };
  // the failover event itself tells these (cllama logs them beside it)
  if (name === 'provider_exhausted_failover' || String(name).startsWith('provider_candidate_fallback:')) return null;
  if (name === 'model_downgraded')
    return { kind: 'downgrade', tone: 'warn', title: 'downgraded', detail: [model(event.from_model ?? event.model), ' → ', model(event.to_model)] };
  if (name === 'budget_check_unavailable')
    return { kind: 'unavailable', tone: 'high', title: 'budget unavailable', detail: ['passed unchecked: ', untrusted(event.reason, { max: 300 })] };
  if (name === 'unknown_cost_blocked')
    return { kind: 'block', tone: 'over', title: 'blocked: unknown cost', detail: [model(event.effective_model ?? event.model), ' has no known price'] };
  if (name === 'budget_exceeded' || name === 'rate_limited') {
    const soft = event.behavior === 'soft_alert';
    const retry = event.retry_after_ms !== null && event.retry_after_ms !== undefined ? ` · retry in ${formatDuration(event.retry_after_ms)}` : '';
    const over = event.metric
      ? `${formatMetric(event.metric, event.used)} of ${formatMetric(event.metric, event.limit)} ${metricLabel(event.metric)}${event.window ? ` per ${event.window}` : ''}`
      : '';
    return {
      kind: soft ? 'soft' : 'block',
      tone: soft ? 'warn' : 'over',
      title: soft ? `over soft limit` : name === 'rate_limited' ? 'blocked: rate limited' : 'blocked: budget exceeded',
      detail: [model(event.model), over ? `${event.model ? ' · ' : ''}${over}` : '', retry],
    };
  }
  return { kind: 'other', tone: 'info', title: clipTitle(name ?? event.type), detail: [model(event.model)] };
}

/** A model policy's resolutions of the requested model (cllama's names). */
const CLAMPS = new Set(['missing', 'bare_model_normalized', 'provider_normalized', 'ambiguous_clamped', 'disallowed_clamped']);

/** A model name as an agent sent it (any string at all). */
function model(name) {
  return untrusted(name, { max: 80, props: { class: 'mono' } });
}

function clipTitle(name) {
  return clip(visibleText(name), 60);
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
  return h(
    'li',
    { class: fresh ? 'fresh' : null, data: { kind: described.kind, agent: event.claw_id ?? '' } },
    h('span', { class: 'when', title: event.ts }, formatClock(event.ts)),
    h(
      'span',
      { class: 'head' },
      h('span', { class: 'pill', data: { tone: described.tone } }, described.title),
      event.claw_id ? h('a', { class: 'agent-link', href: `#/agents/${encodeURIComponent(event.claw_id)}` }, event.claw_id) : null,
    ),
    h('span', { class: 'detail' }, described.detail),
  );
}
