import type { Detection, Detector } from '../detection';

/**
 * Found from each `@`: the local part is the run of local-part characters before it (at most
 * 64, RFC 5321), the domain the run of domain characters after it. Each character is looked
 * at from at most the nearest `@` on either side, so the scan is linear; which labels really
 * form a domain is decided in code: a top-level label of 2–24 letters (or an IDN `xn--`
 * label), no label over 63 characters or starting or ending with `-`.
 */
const MAX_LOCAL = 64;
const MAX_LABEL = 63;

const isLetter = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isAlnum = (c: number) => isLetter(c) || (c >= 48 && c <= 57);
/** `\w . % + -` */
const isLocalChar = (c: number) => isAlnum(c) || c === 95 || c === 46 || c === 37 || c === 43 || c === 45;
const isDomainChar = (c: number) => isAlnum(c) || c === 45 || c === 46;

/** A top-level label: 2–24 letters, or an IDN label `xn--…`. */
function isTopLevel(text: string, start: number, end: number): boolean {
  if (end - start > 4 && text.startsWith('xn--', start)) return end - start <= MAX_LABEL;
  if (end - start < 2 || end - start > 24) return false;
  for (let i = start; i < end; i++) if (!isLetter(text.charCodeAt(i))) return false;
  return true;
}

/**
 * The length of the longest valid domain starting at `from` (labels up to `to`): labels of
 * 1–63 characters not starting or ending with `-`, at least two, the last a top-level label.
 * Scanned in place: no substrings, which a wide result of addresses would make by the thousand.
 */
function domainLength(text: string, from: number, to: number): number {
  let best = -1;
  let labels = 0;
  let start = from;
  for (let i = from; i <= to; i++) {
    if (i < to && text.charCodeAt(i) !== 46) continue;
    const length = i - start;
    if (length === 0 || length > MAX_LABEL || text.charCodeAt(start) === 45 || text.charCodeAt(i - 1) === 45) break;
    labels++;
    if (labels >= 2 && isTopLevel(text, start, i)) best = i - from;
    start = i + 1;
  }
  return best;
}

export const emailDetector: Detector = {
  kind: 'email',
  applies: (features) => features.at > 0 && features.dots > 0,
  find(text: string, found: Detection[]): void {
    for (let at = text.indexOf('@'); at >= 0; at = text.indexOf('@', at + 1)) {
      let start = at;
      while (start > 0 && at - start <= MAX_LOCAL && isLocalChar(text.charCodeAt(start - 1))) start--;
      if (at - start > MAX_LOCAL || (start > 0 && isLocalChar(text.charCodeAt(start - 1)))) continue;
      // A sentence's dots are not part of an address: "see .alice@x.org" starts at alice.
      while (start < at && text.charCodeAt(start) === 46) start++;
      if (start === at || text.charCodeAt(at - 1) === 46 || hasDoubleDot(text, start, at)) continue;
      let end = at + 1;
      while (end < text.length && isDomainChar(text.charCodeAt(end))) end++;
      const domain = domainLength(text, at + 1, end);
      if (domain > 0) found.push({ start, end: at + 1 + domain, kind: 'email', score: 0.9 });
    }
  },
};

function hasDoubleDot(text: string, start: number, end: number): boolean {
  for (let i = start + 1; i < end; i++) if (text.charCodeAt(i) === 46 && text.charCodeAt(i - 1) === 46) return true;
  return false;
}
