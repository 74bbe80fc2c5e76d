// Budget bars: one limit as a bar (used solid, reserved hatched, coloured by fraction) with amounts and a live countdown.
import { h } from './dom.js';
import { forecastText, formatDuration, formatMetric, formatPercent, fractionTone, metricLabel } from './format.js';
import { visibleText } from './text.js';

/** "spend · 1h", "requests · 1m · anthropic/*", "spend · 1d · shared team". */
export function limitLabel(limit, { inShared = false } = {}) {
  const parts = [metricLabel(limit.metric)];
  if (limit.window) parts.push(`per ${limit.window}`);
  if (limit.models && limit.models.length) parts.push(limit.models.join(', '));
  if (limit.shared && !inShared) parts.push(`shared ${limit.shared}`);
  return visibleText(parts.join(' · ')); // model globs and budget names come from policy files
}

/** A countdown element that the page's ticker updates every second (data-reset-at is a browser-clock instant). */
export function countdown(resetInMs, fetchedAt) {
  if (resetInMs === null || resetInMs === undefined) return h('span', { class: 'faint' }, '–');
  return h('span', { class: 'countdown', data: { resetAt: fetchedAt + resetInMs } }, formatDuration(resetInMs));
}

export function limitBar(limit, { fetchedAt, showSource = false, inShared = false }) {
  const fraction = Number(limit.used_fraction) || 0;
  const tone = fractionTone(fraction);
  const total = limit.limit > 0 ? limit.limit : 1;
  const usedWidth = Math.min(100, (limit.used / total) * 100);
  const reservedWidth = Math.min(100 - usedWidth, (limit.reserved / total) * 100);
  const behavior = limit.behavior && limit.behavior !== 'hard_stop' ? h('span', { class: 'tag' }, limit.behavior.replace('_', ' ')) : null;
  return h(
    'div',
    { class: 'bar-row', data: { limit: limit.id, used: limit.used, reserved: limit.reserved, limitValue: limit.limit, fraction } },
    h(
      'div',
      { class: 'bar-head' },
      h('span', { class: 'what', title: limit.id }, limitLabel(limit, { inShared }), behavior),
      h(
        'span',
        { class: 'amount' },
        h('b', { class: 'used-text' }, formatMetric(limit.metric, limit.used)),
        h('span', { class: 'muted' }, ` of ${formatMetric(limit.metric, limit.limit)}`),
      ),
    ),
    h(
      'div',
      {
        class: 'bar',
        data: { tone },
        role: 'meter',
        'aria-valuemin': 0,
        'aria-valuemax': limit.limit,
        'aria-valuenow': limit.used + limit.reserved,
        'aria-label': `${limitLabel(limit)}: ${formatPercent(fraction)} used`,
      },
      barPart('used', 0, usedWidth),
      reservedWidth > 0 ? barPart('reserved', usedWidth, reservedWidth) : null,
    ),
    h(
      'div',
      { class: 'bar-foot' },
      h(
        'span',
        {},
        `${formatPercent(fraction)}`,
        limit.reserved > 0 ? ` · ${formatMetric(limit.metric, limit.reserved)} reserved` : '',
        ` · ${formatMetric(limit.metric, limit.remaining)} left`,
      ),
      limit.reset_in_ms !== null && limit.reset_in_ms !== undefined
        ? h('span', { title: `headroom starts to return at ${limit.reset_at}` }, 'frees in ', countdown(limit.reset_in_ms, fetchedAt))
        : null,
    ),
    forecastText(limit)
      ? h(
          'div',
          {
            class: limit.forecast.before_reset ? 'forecast soon' : 'forecast',
            data: { field: 'forecast' },
            title: `at the spend rate of the last ${Math.round(limit.forecast.rate_window_ms / 60_000)} min: $${limit.forecast.rate_usd_per_hour}/h`,
          },
          forecastText(limit),
        )
      : null,
    showSource && limit.source
      ? h('div', { class: 'limit-source' }, `${limit.source.kind}: ${limit.source.file}${limit.field ? ` (${limit.field})` : ''}`)
      : null,
  );
}

function barPart(kind, left, width) {
  const part = h('span', { class: kind });
  part.style.left = `${left}%`;
  part.style.width = `${width}%`;
  return part;
}

/** The limit nearest to (or past) its cap, which decides when the agent gets headroom back. */
export function tightestLimit(limits) {
  let tightest = null;
  for (const limit of limits ?? []) {
    if (!tightest || (Number(limit.used_fraction) || 0) > (Number(tightest.used_fraction) || 0)) tightest = limit;
  }
  return tightest;
}

/** Cell content: when headroom comes back on the tightest limit (a live countdown), coloured by how tight it is. */
export function headroomCell(limits, fetchedAt) {
  const tightest = tightestLimit(limits);
  if (!tightest) return h('span', { class: 'faint' }, 'no limit');
  const tone = fractionTone(Number(tightest.used_fraction) || 0);
  if (tightest.reset_in_ms === null || tightest.reset_in_ms === undefined)
    return h('span', { class: 'faint', title: limitLabel(tightest) }, tightest.metric === 'concurrency' ? 'when calls end' : '–');
  return h('span', { class: 'headroom', data: { tone } }, countdown(tightest.reset_in_ms, fetchedAt), h('span', { class: 'sub' }, limitLabel(tightest)));
}
