import { eachMatch, type Detection, type Detector } from '../detection';

/**
 * A local part and a dotted domain; the look-behind makes a match start only where a run of
 * local-part characters starts, and the domain is split on dots, so the scan is linear.
 * Which labels really form a domain is decided in code: a top-level label of 2–24 letters
 * (or an IDN `xn--` label), no label over 63 characters or starting or ending with `-`.
 */
const CANDIDATE = /(?<![\w.%+-])[\w.%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/g;
const TOP_LEVEL = /^(?:[A-Za-z]{2,24}|xn--[A-Za-z0-9-]{1,59})$/;

function labelOk(label: string): boolean {
  return label.length > 0 && label.length <= 63 && !label.startsWith('-') && !label.endsWith('-');
}

/** The end of the longest valid domain at the start of `labels`, or -1. */
function domainLength(labels: string[]): number {
  for (let count = labels.length; count >= 2; count--) {
    const kept = labels.slice(0, count);
    if (kept.every(labelOk) && TOP_LEVEL.test(kept[count - 1] as string)) return kept.join('.').length;
  }
  return -1;
}

export const emailDetector: Detector = {
  kind: 'email',
  applies: (features) => features.at > 0 && features.dots > 0,
  find(text: string, found: Detection[]): void {
    eachMatch(CANDIDATE, text, (match) => {
      const at = match[0].indexOf('@');
      let local = match[0].slice(0, at);
      let start = match.index;
      // A sentence's dots are not part of an address: "see .alice@x.org" starts at alice.
      while (local.startsWith('.')) {
        local = local.slice(1);
        start++;
      }
      if (local.length === 0 || local.endsWith('.') || local.includes('..')) return;
      const domain = domainLength(match[0].slice(at + 1).split('.'));
      if (domain < 0) return;
      found.push({ start, end: match.index + at + 1 + domain, kind: 'email', score: 0.9 });
    });
  },
};
