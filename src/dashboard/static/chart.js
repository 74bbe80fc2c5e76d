// Spend over the rolling window as an inline SVG: cumulative spend (step line and area), one dot per call, the limit.
import { s } from './dom.js';
import { formatUsdMicros } from './format.js';

const PAD = { left: 64, right: 16, top: 16, bottom: 28 };
/** Width of one character of an axis label (11px tabular digits), to make room for long amounts. */
const LABEL_CHAR_PX = 7;

/**
 * entries: history summaries oldest first ({ ts, cost_micros }); windowMs: the window shown, ending at `now`;
 * limitMicros: the agent's USD limit for this window, or null.
 */
export function spendChart({ entries, windowMs, now, limitMicros = null, width = 760, height = 260 }) {
  const start = now - windowMs;
  const points = [];
  let total = 0;
  for (const entry of entries) {
    const at = Date.parse(entry.ts);
    if (!Number.isFinite(at) || at < start || at > now) continue;
    total += Number(entry.cost_micros) || 0;
    points.push({ at, total, unpriced: entry.cost_micros === null || entry.cost_micros === undefined });
  }
  const showLimit = limitMicros !== null && limitMicros > 0 && total >= limitMicros * 0.25;
  const top = niceCeiling(Math.max(total, showLimit ? limitMicros : 0, 4000) / 4) * 4;
  const axisLabels = [0, 1, 2, 3, 4].map((i) => formatUsdMicros((top / 4) * i));
  const left = Math.max(PAD.left, 12 + LABEL_CHAR_PX * Math.max(...axisLabels.map((label) => label.length)));
  const plotWidth = width - left - PAD.right;
  const plotHeight = height - PAD.top - PAD.bottom;
  const x = (at) => left + ((at - start) / windowMs) * plotWidth;
  const y = (micros) => PAD.top + plotHeight - (micros / top) * plotHeight;

  const svg = s('svg', {
    class: 'chart',
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': `spend over the last window: ${formatUsdMicros(total)}`,
    data: { total, calls: points.length },
  });
  for (let i = 0; i <= 4; i++) {
    const value = (top / 4) * i;
    svg.append(s('line', { class: 'grid', x1: left, x2: width - PAD.right, y1: y(value), y2: y(value) }));
    svg.append(s('text', { class: 'axis', x: left - 8, y: y(value) + 4, 'text-anchor': 'end' }, axisLabels[i]));
  }
  for (let i = 0; i <= 4; i++) {
    const at = start + (windowMs / 4) * i;
    svg.append(
      s(
        'text',
        { class: 'axis', x: x(at), y: height - 8, 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle' },
        i === 4 ? 'now' : timeLabel(at, windowMs),
      ),
    );
  }
  if (points.length > 0) {
    let path = `M${x(start)},${y(0)}`;
    let previous = 0;
    for (const point of points) {
      path += ` L${x(point.at)},${y(previous)} L${x(point.at)},${y(point.total)}`;
      previous = point.total;
    }
    path += ` L${x(now)},${y(previous)}`;
    svg.append(s('path', { class: 'area', d: `${path} L${x(now)},${y(0)} Z` }));
    svg.append(s('path', { class: 'line', d: path }));
    const step = Math.max(1, Math.ceil(points.length / 400));
    points.forEach((point, index) => {
      if (index % step === 0 || index === points.length - 1) {
        svg.append(s('circle', { class: point.unpriced ? 'dot unpriced' : 'dot', cx: x(point.at), cy: y(point.total), r: 2.6 }));
      }
    });
  } else {
    svg.append(s('text', { class: 'axis', x: left + plotWidth / 2, y: PAD.top + plotHeight / 2, 'text-anchor': 'middle' }, 'no calls in this window'));
  }
  if (showLimit) {
    svg.append(s('line', { class: 'limit', x1: left, x2: width - PAD.right, y1: y(limitMicros), y2: y(limitMicros) }));
    svg.append(
      s('text', { class: 'limit-label', x: width - PAD.right - 4, y: y(limitMicros) - 6, 'text-anchor': 'end' }, `limit ${formatUsdMicros(limitMicros)}`),
    );
  }
  return svg;
}

/** A round number at or above `value` (1, 2, 2.5, 5 × 10^n). */
export function niceCeiling(value) {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const factor of [1, 2, 2.5, 5, 10]) if (factor * magnitude >= value) return factor * magnitude;
  return 10 * magnitude;
}

function timeLabel(at, windowMs) {
  const date = new Date(at);
  const hm = `${String(date.getHours()).padStart(2, '0')}:${String(date.getMinutes()).padStart(2, '0')}`;
  if (windowMs <= 2 * 60_000) return `${hm}:${String(date.getSeconds()).padStart(2, '0')}`;
  if (windowMs > 2 * 86_400_000) return `${date.getMonth() + 1}/${date.getDate()} ${hm}`;
  return hm;
}
