import { getCountrySpecifications, isValidIBAN } from 'ibantools';
import { eachMatch, type Detection, type Detector } from '../detection';

/**
 * A country code and check digits, then alphanumerics with at most one space between them
 * (the printed form groups by four). One optional space per character keeps it linear; the
 * country's IBAN length then says where the IBAN ends.
 */
const CANDIDATE = /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){8,30}/g;
const LENGTHS: ReadonlyMap<string, number> = new Map(
  Object.entries(getCountrySpecifications()).flatMap(([country, spec]) => (spec.chars ? [[country, spec.chars] as const] : [])),
);

function isAlnum(c: string | undefined): boolean {
  return c !== undefined && /[A-Za-z0-9]/.test(c);
}

export const ibanDetector: Detector = {
  kind: 'iban',
  applies: (features) => features.upper >= 2 && features.digits >= 2,
  find(text: string, found: Detection[]): void {
    eachMatch(CANDIDATE, text, (match) => {
      const length = LENGTHS.get(match[0].slice(0, 2));
      if (length === undefined) return;
      let electronic = '';
      let end = 0;
      for (; end < match[0].length && electronic.length < length; end++) {
        const c = match[0][end] as string;
        if (c !== ' ') electronic += c;
      }
      // The IBAN must end where its country says; one running into more letters is something else.
      if (electronic.length < length || isAlnum(text[match.index + end])) return;
      if (isValidIBAN(electronic)) found.push({ start: match.index, end: match.index + end, kind: 'iban', score: 0.95 });
    });
  },
};
