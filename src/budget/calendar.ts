// Calendar windows (day, week from Monday, month) aligned to midnight in an IANA time zone, through Intl (DST-aware).

export type CalendarWindow = 'day' | 'week' | 'month';
/** A window that is not rolling: a calendar period, or the whole life of the ledger. */
export type FixedWindow = CalendarWindow | 'lifetime';

export const CALENDAR_WINDOWS: readonly FixedWindow[] = ['day', 'week', 'month', 'lifetime'];

/** The longest a calendar period can last (a month of 31 days plus a DST hour): what the ledger must keep. */
export const CALENDAR_MAX_MS: Readonly<Record<CalendarWindow, number>> = {
  day: 25 * 3_600_000,
  week: 7 * 86_400_000 + 3_600_000,
  month: 31 * 86_400_000 + 3_600_000,
};

/** A period: usage at or after `since` counts, and the window starts afresh at `until` (ms since epoch). */
export interface Period {
  readonly since: number;
  readonly until: number;
}

const MAX_ZONES = 512;
const formatters = new Map<string, Intl.DateTimeFormat>();
/** The period last computed per `kind|zone`: reused while now is inside it (one Intl call per period, not per call). */
const periods = new Map<string, Period>();

/** Whether `zone` is a time zone this runtime knows (`Europe/Paris`, `UTC`, `America/New_York`). */
export function isTimeZone(zone: string): boolean {
  if (zone.length === 0 || zone.length > 64) return false;
  try {
    formatterFor(zone);
    return true;
  } catch {
    return false;
  }
}

/** The calendar period containing `now` in `zone` (day, ISO week from Monday 00:00, month from the 1st 00:00). */
export function calendarPeriod(kind: CalendarWindow, zone: string, now: number): Period {
  const key = `${kind}|${zone}`;
  const cached = periods.get(key);
  if (cached && cached.since <= now && now < cached.until) return cached;
  const period = computePeriod(kind, zone, now);
  if (periods.size >= MAX_ZONES * 3) periods.clear();
  periods.set(key, period);
  return period;
}

function computePeriod(kind: CalendarWindow, zone: string, now: number): Period {
  const { year, month, day } = localParts(now, zone);
  if (kind === 'day') return { since: localMidnight(year, month, day, zone), until: localMidnight(year, month, day + 1, zone) };
  if (kind === 'month') return { since: localMidnight(year, month, 1, zone), until: localMidnight(year, month + 1, 1, zone) };
  const fromMonday = (new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 6) % 7;
  return { since: localMidnight(year, month, day - fromMonday, zone), until: localMidnight(year, month, day - fromMonday + 7, zone) };
}

/**
 * The first instant of the local date (`day` and `month` may overflow: Date.UTC normalizes them) in `zone`: local
 * midnight, or, where a DST change skips midnight, the first instant of that date (01:00). Two candidates from the
 * offsets around the guess; the earliest whose local date is already the target wins (a repeated midnight: the first).
 */
export function localMidnight(year: number, month: number, day: number, zone: string): number {
  const base = Date.UTC(year, month - 1, day);
  const first = base - offsetAt(base, zone);
  const second = base - offsetAt(first, zone);
  const target = dateKey(new Date(base).getUTCFullYear(), new Date(base).getUTCMonth() + 1, new Date(base).getUTCDate());
  let best: number | null = null;
  for (const candidate of [first, second, base - offsetAt(second, zone)]) {
    const parts = localParts(candidate, zone);
    if (dateKey(parts.year, parts.month, parts.day) < target) continue;
    if (best === null || candidate < best) best = candidate;
  }
  return best ?? first;
}

interface LocalParts {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
}

function localParts(at: number, zone: string): LocalParts {
  const values: Record<string, number> = {};
  for (const part of formatterFor(zone).formatToParts(at)) if (part.type !== 'literal') values[part.type] = Number(part.value);
  return { year: values.year, month: values.month, day: values.day, hour: values.hour % 24, minute: values.minute, second: values.second };
}

/** Local wall time minus UTC at `at`, in ms (whole seconds: no zone has a sub-second offset today). */
function offsetAt(at: number, zone: string): number {
  const parts = localParts(at, zone);
  const wall = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  return wall - Math.floor(at / 1000) * 1000;
}

function dateKey(year: number, month: number, day: number): number {
  return year * 10_000 + month * 100 + day;
}

function formatterFor(zone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(zone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    if (formatters.size >= MAX_ZONES) formatters.clear();
    formatters.set(zone, formatter);
  }
  return formatter;
}
