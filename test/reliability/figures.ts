import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Numbers a suite measured; the totals the summary adds up are calls, restarts, lost, double, unaudited, injectionsTried, injectionsSucceeded. */
export type Figures = Record<string, number | string | boolean | Record<string, number>>;

/** Leaves a suite's figures for the summary line (summary-reporter.js); outside that run, prints them. */
export function recordFigures(suite: string, figures: Figures): void {
  const dir = process.env['RUNGATE_RELIABILITY_FIGURES'];
  if (dir) writeFileSync(join(dir, `${suite}.json`), JSON.stringify(figures));
  else process.stdout.write(`${JSON.stringify({ [suite]: figures })}\n`);
}

const FULL = process.env['RELIABILITY_PROFILE'] === 'full';

/** A size: its own variable if set, else the full run's or the CI slice's value. */
export function size(variable: string, slice: number, full: number): number {
  const raw = process.env[variable];
  if (raw === undefined || raw === '') return FULL ? full : slice;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${variable} must be a positive integer, not "${raw}"`);
  return value;
}
