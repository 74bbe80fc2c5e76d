// Calendar windows: periods aligned to local midnight in a time zone, across DST changes, month ends and leap days.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { calendarPeriod, isTimeZone, type CalendarWindow } from '../../../src/budget/calendar.ts';

const iso = (ms: number) => new Date(ms).toISOString();

describe('calendarPeriod', () => {
  const cases: { name: string; kind: CalendarWindow; zone: string; now: string; since: string; until: string }[] = [
    { name: 'UTC day', kind: 'day', zone: 'UTC', now: '2026-12-07T09:00:00.000Z', since: '2026-12-07T00:00:00.000Z', until: '2026-12-08T00:00:00.000Z' },
    {
      name: 'the first millisecond of a day is in it',
      kind: 'day',
      zone: 'UTC',
      now: '2026-12-07T00:00:00.000Z',
      since: '2026-12-07T00:00:00.000Z',
      until: '2026-12-08T00:00:00.000Z',
    },
    {
      name: 'the last millisecond of a day is in it',
      kind: 'day',
      zone: 'UTC',
      now: '2026-12-07T23:59:59.999Z',
      since: '2026-12-07T00:00:00.000Z',
      until: '2026-12-08T00:00:00.000Z',
    },
    {
      name: 'Paris day of the spring change: 23 hours',
      kind: 'day',
      zone: 'Europe/Paris',
      now: '2026-03-29T12:00:00.000Z',
      since: '2026-03-28T23:00:00.000Z',
      until: '2026-03-29T22:00:00.000Z',
    },
    {
      name: 'New York day of the autumn change: 25 hours',
      kind: 'day',
      zone: 'America/New_York',
      now: '2026-11-01T12:00:00.000Z',
      since: '2026-11-01T04:00:00.000Z',
      until: '2026-11-02T05:00:00.000Z',
    },
    {
      name: 'Santiago: midnight skipped by DST, the day starts at 01:00',
      kind: 'day',
      zone: 'America/Santiago',
      now: '2022-09-11T12:00:00.000Z',
      since: '2022-09-11T04:00:00.000Z',
      until: '2022-09-12T03:00:00.000Z',
    },
    {
      name: 'Havana: midnight repeated by DST, the day starts at the first',
      kind: 'day',
      zone: 'America/Havana',
      now: '2024-11-03T12:00:00.000Z',
      since: '2024-11-03T04:00:00.000Z',
      until: '2024-11-04T05:00:00.000Z',
    },
    {
      name: 'Apia: the day after the skipped 30 December 2011',
      kind: 'day',
      zone: 'Pacific/Apia',
      now: '2011-12-30T12:00:00.000Z',
      since: '2011-12-30T10:00:00.000Z',
      until: '2011-12-31T10:00:00.000Z',
    },
    {
      name: 'Kolkata (+05:30) week from Monday, on a leap day',
      kind: 'week',
      zone: 'Asia/Kolkata',
      now: '2024-02-29T12:00:00.000Z',
      since: '2024-02-25T18:30:00.000Z',
      until: '2024-03-03T18:30:00.000Z',
    },
    {
      name: 'week on a Sunday belongs to the week from the Monday before',
      kind: 'week',
      zone: 'UTC',
      now: '2026-12-06T23:00:00.000Z',
      since: '2026-11-30T00:00:00.000Z',
      until: '2026-12-07T00:00:00.000Z',
    },
    {
      name: 'week across a year end',
      kind: 'week',
      zone: 'UTC',
      now: '2027-01-01T12:00:00.000Z',
      since: '2026-12-28T00:00:00.000Z',
      until: '2027-01-04T00:00:00.000Z',
    },
    {
      name: 'UTC February of a leap year, on the leap day',
      kind: 'month',
      zone: 'UTC',
      now: '2024-02-29T23:59:59.000Z',
      since: '2024-02-01T00:00:00.000Z',
      until: '2024-03-01T00:00:00.000Z',
    },
    {
      name: 'UTC February of a common year',
      kind: 'month',
      zone: 'UTC',
      now: '2026-02-14T00:00:00.000Z',
      since: '2026-02-01T00:00:00.000Z',
      until: '2026-03-01T00:00:00.000Z',
    },
    {
      name: 'December into January',
      kind: 'month',
      zone: 'UTC',
      now: '2026-12-31T23:59:59.999Z',
      since: '2026-12-01T00:00:00.000Z',
      until: '2027-01-01T00:00:00.000Z',
    },
    {
      name: 'Paris March holds the spring change (offset +1 then +2)',
      kind: 'month',
      zone: 'Europe/Paris',
      now: '2026-03-31T21:59:59.000Z',
      since: '2026-02-28T23:00:00.000Z',
      until: '2026-03-31T22:00:00.000Z',
    },
    {
      name: 'Paris: 23:30 UTC on 31 March is already April there',
      kind: 'month',
      zone: 'Europe/Paris',
      now: '2026-03-31T23:30:00.000Z',
      since: '2026-03-31T22:00:00.000Z',
      until: '2026-04-30T22:00:00.000Z',
    },
    {
      name: 'Lord Howe (half-hour DST) April',
      kind: 'month',
      zone: 'Australia/Lord_Howe',
      now: '2024-04-15T00:00:00.000Z',
      since: '2024-03-31T13:00:00.000Z',
      until: '2024-04-30T13:30:00.000Z',
    },
    {
      name: 'Tokyo (+09:00): 20:00 UTC on the 31st is the 1st there',
      kind: 'month',
      zone: 'Asia/Tokyo',
      now: '2026-01-31T20:00:00.000Z',
      since: '2026-01-31T15:00:00.000Z',
      until: '2026-02-28T15:00:00.000Z',
    },
    {
      name: 'Los Angeles (-08:00): 05:00 UTC on the 1st is still the month before',
      kind: 'month',
      zone: 'America/Los_Angeles',
      now: '2026-12-01T05:00:00.000Z',
      since: '2026-11-01T07:00:00.000Z',
      until: '2026-12-01T08:00:00.000Z',
    },
  ];
  for (const testCase of cases) {
    it(testCase.name, () => {
      const period = calendarPeriod(testCase.kind, testCase.zone, Date.parse(testCase.now));
      assert.deepEqual([iso(period.since), iso(period.until)], [testCase.since, testCase.until]);
      assert.ok(period.since <= Date.parse(testCase.now) && Date.parse(testCase.now) < period.until);
    });
  }

  it('every hour of two years, in zones with DST: periods contain now, follow each other, and start at local midnight', () => {
    for (const zone of ['Europe/Paris', 'America/New_York', 'Australia/Sydney', 'Asia/Kolkata', 'America/Santiago']) {
      for (const kind of ['day', 'week', 'month'] as const) {
        let previous: { since: number; until: number } | null = null;
        for (let now = Date.parse('2025-01-01T00:00:00Z'); now < Date.parse('2027-01-01T00:00:00Z'); now += 3_600_000) {
          const period = calendarPeriod(kind, zone, now);
          assert.ok(period.since <= now && now < period.until, `${zone} ${kind} ${iso(now)}`);
          if (previous && period.since !== previous.since)
            assert.equal(period.since, previous.until, `${zone} ${kind}: no gap, no overlap at ${iso(period.since)}`);
          previous = period;
        }
      }
    }
  });
});

describe('isTimeZone', () => {
  for (const [zone, valid] of [
    ['UTC', true],
    ['Europe/Paris', true],
    ['America/Argentina/Buenos_Aires', true],
    ['Mars/Olympus', false],
    ['', false],
    ['../../etc/passwd', false],
    ['x'.repeat(100), false],
  ] as const) {
    it(`${JSON.stringify(zone.slice(0, 20))} → ${valid}`, () => assert.equal(isTimeZone(zone), valid));
  }
});
