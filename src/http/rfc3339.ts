// RFC3339 times as Go parses them (the `since`/`until` of /history and the admin API).
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:[Zz]|([+-]\d{2}:\d{2}))$/;

/**
 * Milliseconds since epoch for an RFC3339 time (offset required, as Go's time.RFC3339 parser), else null. A date or
 * time that does not exist (February 30, 24:00, an offset past 23:59) is refused as Go refuses it, not rolled over.
 */
export function parseRfc3339(text: string): number | null {
  const match = RFC3339.exec(text);
  if (!match) return null;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  const offset = match[8];
  if (offset !== undefined && (Number(offset.slice(1, 3)) > 23 || Number(offset.slice(4, 6)) > 59)) return null;
  const ms = Date.parse(text.replace(' ', 'T'));
  return Number.isFinite(ms) ? ms : null;
}

function daysInMonth(year: number, month: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month, 0); // day 0 of the next month: the last day of this one (years below 100 kept as they are)
  return date.getUTCDate();
}
