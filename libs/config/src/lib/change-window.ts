import { z } from 'zod';
import { WEEKDAYS, type ChangeWindow } from '@rungate/contracts';

const DAY_MS = 86_400_000;
/** How far ahead a run's next slot is looked for: every window opens at least once a week. */
export const WINDOW_HORIZON_DAYS = 8;

const TimeOfDay = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time of day HH:MM, 00:00 to 23:59');

/** An IANA time zone name Intl knows (Europe/Berlin, UTC); never an offset, which ignores daylight saving. */
export function isTimeZone(name: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(name)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** `window:` of an approval (ADR 18 §1): when an approved run may start. */
export const ChangeWindowConfig = z
  .strictObject({
    days: z
      .array(z.enum(WEEKDAYS))
      .min(1)
      .refine((days) => new Set(days).size === days.length, 'name each day once')
      .default([...WEEKDAYS])
      .describe('the days a slot opens on (sun, mon, tue, wed, thu, fri, sat); every day when left out'),
    from: TimeOfDay.describe('when a slot opens, HH:MM wall clock in timeZone'),
    to: TimeOfDay.describe('when it closes, HH:MM; before from means across midnight, into the next day'),
    timeZone: z
      .string()
      .default('UTC')
      .refine(isTimeZone, 'an IANA time zone such as Europe/Berlin or UTC')
      .describe('the IANA time zone of from and to (daylight saving included); UTC when left out'),
  })
  .refine((window) => window.from !== window.to, { path: ['to'], message: 'must differ from from: a window that closes as it opens never lets a run start' });

/** A time a run may start in: from `startsAt` (inclusive) to `endsAt` (exclusive), epoch milliseconds. */
export interface Opening {
  startsAt: number;
  endsAt: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(timeZone, format);
  }
  return format;
}

/** The wall clock in `timeZone` at `instant`, as if it were UTC (so Date.UTC arithmetic applies). */
function wallClock(instant: number, timeZone: string): number {
  const parts = Object.fromEntries(formatter(timeZone).formatToParts(new Date(instant)).map((p) => [p.type, Number(p.value)]));
  return Date.UTC(parts['year'] ?? 0, (parts['month'] ?? 1) - 1, parts['day'] ?? 1, parts['hour'] ?? 0, parts['minute'] ?? 0, parts['second'] ?? 0);
}

function offsetAt(instant: number, timeZone: string): number {
  return wallClock(instant, timeZone) - Math.floor(instant / 1000) * 1000;
}

/**
 * The instant a wall-clock time in `timeZone` names (`wall` as if UTC). Daylight saving as
 * Temporal's "compatible": a time the clocks skip (02:30 when they jump from 02:00 to 03:00)
 * is read forward by the gap (03:30); a time they pass twice (falling back) is the earlier one.
 */
function instantOf(wall: number, timeZone: string): number {
  const before = offsetAt(wall - DAY_MS, timeZone);
  const after = offsetAt(wall + DAY_MS, timeZone);
  const valid = [...new Set([before, after])].map((offset) => wall - offset).filter((instant) => wall - offsetAt(instant, timeZone) === instant);
  return valid.length > 0 ? Math.min(...valid) : wall - before;
}

function minutesOf(time: string): number {
  const [hours, minutes] = time.split(':').map(Number);
  return (hours ?? 0) * 60 + (minutes ?? 0);
}

/** The slots of one window that open from the day before `now` (in its zone) to `days` days after, merged where they touch. */
function openings(window: ChangeWindow, now: number, days: number): Opening[] {
  const today = wallClock(now, window.timeZone);
  const midnight = today - (today % DAY_MS);
  const from = minutesOf(window.from) * 60_000;
  const to = minutesOf(window.to) * 60_000;
  const slots: Opening[] = [];
  for (let day = -1; day <= days; day++) {
    const date = midnight + day * DAY_MS;
    if (!window.days.includes(WEEKDAYS[new Date(date).getUTCDay()] as ChangeWindow['days'][number])) continue;
    const startsAt = instantOf(date + from, window.timeZone);
    const endsAt = instantOf(date + (to <= from ? DAY_MS : 0) + to, window.timeZone);
    if (endsAt > startsAt) slots.push({ startsAt, endsAt });
  }
  return merge(slots);
}

function merge(slots: Opening[]): Opening[] {
  const merged: Opening[] = [];
  for (const slot of [...slots].sort((a, b) => a.startsAt - b.startsAt)) {
    const last = merged[merged.length - 1];
    if (last && slot.startsAt <= last.endsAt) last.endsAt = Math.max(last.endsAt, slot.endsAt);
    else merged.push({ ...slot });
  }
  return merged;
}

function intersect(a: Opening[], b: Opening[]): Opening[] {
  const both: Opening[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as Opening;
    const y = b[j] as Opening;
    const startsAt = Math.max(x.startsAt, y.startsAt);
    const endsAt = Math.min(x.endsAt, y.endsAt);
    if (startsAt < endsAt) both.push({ startsAt, endsAt });
    if (x.endsAt < y.endsAt) i++;
    else j++;
  }
  return both;
}

/**
 * The slot in which a run held by `windows` may start, as of `now` (the database's clock):
 * the one open now (from `now`), or the next to open — when every window is open at once (the
 * intersection: each hold's window must allow the start). Undefined when they do not open
 * together within `horizonDays` days.
 */
export function nextOpening(windows: readonly ChangeWindow[], now: number, horizonDays = WINDOW_HORIZON_DAYS): Opening | undefined {
  if (windows.length === 0) return { startsAt: now, endsAt: Number.POSITIVE_INFINITY };
  // A slot opening near the horizon is seen whole: two days more than is searched.
  const [first, ...rest] = windows.map((w) => openings(w, now, horizonDays + 2));
  const open = rest.reduce(intersect, first ?? []);
  const next = open.find((slot) => slot.endsAt > now);
  if (!next || next.startsAt > now + horizonDays * DAY_MS) return undefined;
  return { startsAt: Math.max(next.startsAt, now), endsAt: next.endsAt };
}
