import { eachMatch, type Detection, type Detector } from '../detection';

/**
 * International numbers written with their country code (`+49 30 1234567`, `+1-202-555-0143`):
 * a `+`, then digits with up to two separators between them (deterministic, so linear);
 * E.164 allows 8–15 digits with the country code.
 */
const INTERNATIONAL = /(?<![\w+])\+\d(?:[ .\-()]{0,2}\d)*/g;
/**
 * North American numbers in their usual print: `(202) 555-0143`, `202-555-0143`, `202.555.0143`,
 * `202 555 0143`, with the same separator twice and area and exchange codes starting 2–9.
 * Bare digit runs are not phone numbers here: too many other numbers look like them.
 */
const NORTH_AMERICAN = /(?<![\w+\-.(])(?:\([2-9]\d{2}\) ?[2-9]\d{2}[-. ]|[2-9]\d{2}([-. ])[2-9]\d{2}\1)\d{4}(?![\w-]|\.\d)/g;

export const phoneDetector: Detector = {
  kind: 'phone',
  applies: (features) => features.digits >= 8,
  find(text: string, found: Detection[]): void {
    eachMatch(INTERNATIONAL, text, (match) => {
      let digits = 0;
      for (const c of match[0]) if (c >= '0' && c <= '9') digits++;
      if (digits < 8 || digits > 15) return;
      found.push({ start: match.index, end: match.index + match[0].length, kind: 'phone', score: 0.7 });
    });
    eachMatch(NORTH_AMERICAN, text, (match) => {
      found.push({ start: match.index, end: match.index + match[0].length, kind: 'phone', score: 0.6 });
    });
  },
};
