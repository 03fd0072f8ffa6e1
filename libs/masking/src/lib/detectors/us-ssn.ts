import { eachMatch, type Detection, type Detector } from '../detection';

/** Area, group, serial; the separator, if any, is the same twice (a back-reference). */
const CANDIDATE = /(?<![\d-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\d-])/g;
/** Never issued: the Woolworth wallet card, a 1940s advertisement, and the obvious sequence. */
const NEVER_ISSUED = new Set(['078051120', '219099999', '123456789']);

/**
 * The Social Security Administration's rules: area not 000, 666 or 900–999; group not 00;
 * serial not 0000. Written as `123-45-6789` or `123 45 6789` it scores 0.85; nine bare digits
 * only 0.3, below the default threshold (they are mostly not SSNs — mask a column instead).
 */
export function ssnValid(area: string, group: string, serial: string): boolean {
  if (area === '000' || area === '666' || area.startsWith('9')) return false;
  if (group === '00' || serial === '0000') return false;
  return !NEVER_ISSUED.has(`${area}${group}${serial}`) && !/^(\d)\1{8}$/.test(`${area}${group}${serial}`);
}

export const usSsnDetector: Detector = {
  kind: 'us_ssn',
  applies: (features) => features.digits >= 9,
  find(text: string, found: Detection[]): void {
    eachMatch(CANDIDATE, text, (match) => {
      const [, area, separator, group, serial] = match as unknown as [string, string, string, string, string];
      if (!ssnValid(area, group, serial)) return;
      found.push({ start: match.index, end: match.index + match[0].length, kind: 'us_ssn', score: separator ? 0.85 : 0.3 });
    });
  },
};
