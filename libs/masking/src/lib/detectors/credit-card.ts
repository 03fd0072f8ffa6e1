import creditCardType from 'credit-card-type';
import { eachMatch, type Detection, type Detector } from '../detection';

/**
 * At least 12 digits with at most one space or dash between them: each step is a separator
 * or a digit, never both, so the match is deterministic and a run is scanned once. Shorter
 * numbers (dates, times, counts) fail within their own few characters.
 */
const DIGIT_RUN = /\d(?:[ -]?\d){11,}/g;
const MIN_DIGITS = 12;
const MAX_DIGITS = 19;

/** A card number's check digit (ISO/IEC 7812). */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * Brands are decided by the first digits (IIN ranges of at most 6 digits in credit-card-type)
 * and the length. credit-card-type copies its whole table on every call (~40 µs), so answers
 * are remembered by the first 8 digits and the length; the table is bounded.
 */
const brands = new Map<string, string | null>();
const BRAND_CACHE_SIZE = 4096;

/** A brand whose number ranges and lengths fit (credit-card-type); undefined for none. */
export function cardBrand(digits: string): string | undefined {
  const key = `${digits.slice(0, 8)}:${digits.length}`;
  let brand = brands.get(key);
  if (brand === undefined) {
    brand = creditCardType(digits).find((candidate) => candidate.lengths.includes(digits.length))?.type ?? null;
    if (brands.size >= BRAND_CACHE_SIZE) brands.clear();
    brands.set(key, brand);
  }
  return brand ?? undefined;
}

/**
 * 0.95 for a Luhn-valid number of a known brand and length; 0.4 — below the default
 * threshold — for a Luhn-valid number no brand issues (one random number in ten passes Luhn,
 * so order numbers would otherwise be masked); nothing for a number failing Luhn.
 */
function cardScore(digits: string): number {
  if (digits.length < MIN_DIGITS || digits.length > MAX_DIGITS || !luhnValid(digits)) return 0;
  return cardBrand(digits) ? 0.95 : 0.4;
}

interface Group {
  start: number;
  end: number;
  digits: string;
}

/**
 * In a run of separated digit groups ("order 12 4111 1111 1111 1111 qty 3") the card is some
 * contiguous groups; every span of 12–19 digits is scored and the best non-overlapping ones
 * kept. A run without separators is one number: a card is never part of a longer one.
 */
function cardsInRun(text: string, runStart: number, run: string, found: Detection[]): void {
  const groups: Group[] = [];
  const pattern = /\d+/g;
  for (let match = pattern.exec(run); match !== null; match = pattern.exec(run)) {
    groups.push({ start: runStart + match.index, end: runStart + match.index + match[0].length, digits: match[0] });
  }
  const spans: Detection[] = [];
  for (let i = 0; i < groups.length; i++) {
    let digits = '';
    for (let j = i; j < groups.length; j++) {
      digits += (groups[j] as Group).digits;
      if (digits.length > MAX_DIGITS) break;
      const score = cardScore(digits);
      if (score > 0) spans.push({ start: (groups[i] as Group).start, end: (groups[j] as Group).end, kind: 'credit_card', score });
    }
  }
  spans.sort((a, b) => b.score - a.score || b.end - b.start - (a.end - a.start));
  const kept: Detection[] = [];
  for (const span of spans) {
    if (kept.every((k) => span.end <= k.start || span.start >= k.end)) kept.push(span);
  }
  found.push(...kept);
}

export const creditCardDetector: Detector = {
  kind: 'credit_card',
  applies: (features) => features.digits >= MIN_DIGITS,
  find(text: string, found: Detection[]): void {
    eachMatch(DIGIT_RUN, text, (match) => {
      const run = match[0];
      if (/^\d+$/.test(run)) {
        const score = cardScore(run);
        if (score > 0) found.push({ start: match.index, end: match.index + run.length, kind: 'credit_card', score });
        return;
      }
      cardsInRun(text, match.index, run, found);
    });
  },
};
