import type { Detection, Detector } from '../detection';

/**
 * Found from each `@`: the local part is the run of local-part characters before it (at most
 * 64, RFC 5321), the domain the run of domain characters after it. Each character is looked
 * at from at most the nearest `@` on either side, so the scan is linear; which labels really
 * form a domain is decided in code: a top-level label of 2–24 letters (or an IDN `xn--`
 * label), no label over 63 characters or starting or ending with `-`.
 */
const MAX_LOCAL = 64;
const TOP_LEVEL = /^(?:[A-Za-z]{2,24}|xn--[A-Za-z0-9-]{1,59})$/;

const isAlnum = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
/** `\w . % + -` */
const isLocalChar = (c: number) => isAlnum(c) || c === 95 || c === 46 || c === 37 || c === 43 || c === 45;
const isDomainChar = (c: number) => isAlnum(c) || c === 45 || c === 46;

function labelOk(label: string): boolean {
  return label.length > 0 && label.length <= 63 && label.charCodeAt(0) !== 45 && label.charCodeAt(label.length - 1) !== 45;
}

/** The length of the longest valid domain at the start of `domain` (dot-separated labels), or -1. */
function domainLength(domain: string): number {
  const labels = domain.split('.');
  let valid = 0;
  while (valid < labels.length && labelOk(labels[valid] as string)) valid++;
  for (let count = valid; count >= 2; count--) {
    if (TOP_LEVEL.test(labels[count - 1] as string)) {
      let length = count - 1;
      for (let i = 0; i < count; i++) length += (labels[i] as string).length;
      return length;
    }
  }
  return -1;
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
      if (start === at || text.charCodeAt(at - 1) === 46 || text.slice(start, at).includes('..')) continue;
      let end = at + 1;
      while (end < text.length && isDomainChar(text.charCodeAt(end))) end++;
      const domain = domainLength(text.slice(at + 1, end));
      if (domain > 0) found.push({ start, end: at + 1 + domain, kind: 'email', score: 0.9 });
    }
  },
};
