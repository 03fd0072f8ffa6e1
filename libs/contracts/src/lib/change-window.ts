import { z } from 'zod';

/** Day names of a change window, in the order of `Date#getUTCDay` (sunday first). */
export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/**
 * A change window (ADR 18 §1): the slots in which an approved run may start — on `days`, from
 * `from` to `to` (HH:MM, wall clock in `timeZone`); `to` before `from` runs across midnight
 * into the next day, and `days` names the day a slot opens.
 */
export const ChangeWindow = z.object({ days: z.array(z.enum(WEEKDAYS)), from: z.string(), to: z.string(), timeZone: z.string() });
export type ChangeWindow = z.infer<typeof ChangeWindow>;

/** `mon, tue, wed, thu, fri 09:00–17:00 Europe/Berlin`, `every day 22:00–02:00 UTC`: one window as people read it. */
export function describeWindow(window: ChangeWindow): string {
  const days = window.days.length === WEEKDAYS.length ? 'every day' : [...WEEKDAYS.slice(1), WEEKDAYS[0]].filter((d) => window.days.includes(d)).join(', ');
  return `${days} ${window.from}–${window.to} ${window.timeZone}`;
}
