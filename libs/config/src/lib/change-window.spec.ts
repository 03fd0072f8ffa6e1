import type { ChangeWindow } from '@rungate/contracts';
import { isTimeZone, nextOpening } from './change-window';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const slot = (windows: ChangeWindow[], now: string) => {
  const opening = nextOpening(windows, at(now));
  return opening && { startsAt: iso(opening.startsAt), endsAt: iso(opening.endsAt) };
};
const weekdays: ChangeWindow['days'] = ['mon', 'tue', 'wed', 'thu', 'fri'];
const every: ChangeWindow['days'] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const berlin: ChangeWindow = { days: weekdays, from: '09:00', to: '17:00', timeZone: 'Europe/Berlin' };

describe('the next opening of change windows (the clock injected)', () => {
  it('is now inside a window, and ends when the window closes', () => {
    // Wednesday 2026-12-09 10:00 in Berlin (CET, UTC+1).
    expect(slot([berlin], '2026-12-09T09:00:00.000Z')).toEqual({ startsAt: '2026-12-09T09:00:00.000Z', endsAt: '2026-12-09T16:00:00.000Z' });
    expect(slot([berlin], '2026-12-09T08:00:00.000Z')).toEqual({ startsAt: '2026-12-09T08:00:00.000Z', endsAt: '2026-12-09T16:00:00.000Z' });
  });

  it('is the next slot outside one: later that day, the next weekday, over the weekend', () => {
    expect(slot([berlin], '2026-12-09T07:59:00.000Z')).toEqual({ startsAt: '2026-12-09T08:00:00.000Z', endsAt: '2026-12-09T16:00:00.000Z' });
    // 17:00 closes it: the end is exclusive.
    expect(slot([berlin], '2026-12-09T16:00:00.000Z')).toEqual({ startsAt: '2026-12-10T08:00:00.000Z', endsAt: '2026-12-10T16:00:00.000Z' });
    // Friday evening: Monday morning.
    expect(slot([berlin], '2026-12-11T18:00:00.000Z')).toEqual({ startsAt: '2026-12-14T08:00:00.000Z', endsAt: '2026-12-14T16:00:00.000Z' });
  });

  it('runs a window across midnight into the next day, named by the day it opens', () => {
    const night: ChangeWindow = { days: ['fri'], from: '22:00', to: '02:00', timeZone: 'UTC' };
    // Saturday 01:00 is inside Friday's slot.
    expect(slot([night], '2026-12-12T01:00:00.000Z')).toEqual({ startsAt: '2026-12-12T01:00:00.000Z', endsAt: '2026-12-12T02:00:00.000Z' });
    // Saturday 03:00: the next Friday.
    expect(slot([night], '2026-12-12T03:00:00.000Z')).toEqual({ startsAt: '2026-12-18T22:00:00.000Z', endsAt: '2026-12-19T02:00:00.000Z' });
    // Friday 21:00 (Friday's own 00:00–02:00 belongs to Thursday, which has no slot).
    expect(slot([night], '2026-12-11T01:00:00.000Z')).toEqual({ startsAt: '2026-12-11T22:00:00.000Z', endsAt: '2026-12-12T02:00:00.000Z' });
  });

  it('keeps the wall clock across a daylight saving change', () => {
    // Berlin leaves CET for CEST on Sunday 2027-03-28: 09:00 is 08:00Z before, 07:00Z after.
    expect(slot([berlin], '2027-03-26T17:00:00.000Z')).toEqual({ startsAt: '2027-03-29T07:00:00.000Z', endsAt: '2027-03-29T15:00:00.000Z' });
    const early: ChangeWindow = { days: every, from: '01:30', to: '04:00', timeZone: 'Europe/Berlin' };
    // That night lasts an hour less: 01:30 CET is 00:30Z, 04:00 CEST is 02:00Z.
    expect(slot([early], '2027-03-27T23:00:00.000Z')).toEqual({ startsAt: '2027-03-28T00:30:00.000Z', endsAt: '2027-03-28T02:00:00.000Z' });
    // A time the clocks skip (02:30 on 2027-03-28) is read forward by the gap: 03:30 CEST.
    const skipped: ChangeWindow = { days: ['sun'], from: '02:30', to: '05:00', timeZone: 'Europe/Berlin' };
    expect(slot([skipped], '2027-03-27T12:00:00.000Z')).toEqual({ startsAt: '2027-03-28T01:30:00.000Z', endsAt: '2027-03-28T03:00:00.000Z' });
    // A time they pass twice (02:30 on 2027-10-31, back from CEST to CET) is the earlier one.
    const twice: ChangeWindow = { days: ['sun'], from: '02:30', to: '05:00', timeZone: 'Europe/Berlin' };
    expect(slot([twice], '2027-10-30T12:00:00.000Z')).toEqual({ startsAt: '2027-10-31T00:30:00.000Z', endsAt: '2027-10-31T04:00:00.000Z' });
  });

  it('opens several windows only where all are open (the intersection), each in its own zone', () => {
    const newYork: ChangeWindow = { days: weekdays, from: '08:00', to: '12:00', timeZone: 'America/New_York' };
    // Berlin 09–17 (08–16Z) and New York 08–12 (13–17Z in December): 13:00Z to 16:00Z.
    expect(slot([berlin, newYork], '2026-12-09T09:00:00.000Z')).toEqual({ startsAt: '2026-12-09T13:00:00.000Z', endsAt: '2026-12-09T16:00:00.000Z' });
    expect(slot([newYork, berlin], '2026-12-09T14:00:00.000Z')).toEqual({ startsAt: '2026-12-09T14:00:00.000Z', endsAt: '2026-12-09T16:00:00.000Z' });
    // Windows that never meet: none within the horizon.
    const weekend: ChangeWindow = { days: ['sat', 'sun'], from: '09:00', to: '17:00', timeZone: 'Europe/Berlin' };
    expect(slot([berlin, weekend], '2026-12-09T09:00:00.000Z')).toBeUndefined();
  });

  it('knows IANA time zones and refuses anything else', () => {
    expect(['UTC', 'Europe/Berlin', 'America/Argentina/Buenos_Aires', 'Etc/GMT+5'].filter(isTimeZone)).toHaveLength(4);
    expect(['Mars/Olympus', '+01:00', 'CET ', '', 'Europe/../Berlin'].filter(isTimeZone)).toEqual([]);
  });
});
