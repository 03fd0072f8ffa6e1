import { isIPv6 } from 'node:net';
import { eachMatch, type Detection, type Detector } from '../detection';

/** Four dot-separated numbers, not part of a longer dotted number (a version such as 1.2.3.4.5). */
const IPV4 = /(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)/g;
/**
 * Runs of the characters an IPv6 address is written with that hold a colon; node:net decides
 * which are addresses. The look-behind starts a match only where such a run starts, and the
 * part before the colon excludes it, so a colon-less run is given up in one backward pass.
 */
const IPV6_RUN = /(?<![0-9A-Fa-f:.])[0-9A-Fa-f.]*:[0-9A-Fa-f:.]+/g;
const MAX_IPV6_LENGTH = 45;

function octetsValid(address: string): boolean {
  return address.split('.').every((octet) => Number(octet) <= 255 && (octet.length === 1 || !octet.startsWith('0')));
}

function isWordChar(c: string | undefined): boolean {
  return c !== undefined && /\w/.test(c);
}

export const ipAddressDetector: Detector = {
  kind: 'ip_address',
  applies: (features) => (features.dots >= 3 && features.digits >= 4) || features.colons >= 2,
  find(text: string, found: Detection[]): void {
    eachMatch(IPV4, text, (match) => {
      if (octetsValid(match[0])) found.push({ start: match.index, end: match.index + match[0].length, kind: 'ip_address', score: 0.6 });
    });
    eachMatch(IPV6_RUN, text, (match) => {
      // "from 2001:db8::1: refused." — a sentence's colon or dot is not part of the address.
      let run = match[0].replace(/\.+$/, '');
      if (run.length > MAX_IPV6_LENGTH + 1 || run.split(':').length < 3) return;
      if (isWordChar(text[match.index - 1]) || isWordChar(text[match.index + match[0].length])) return;
      // Without `::` an address has all eight groups (seven colons, six before an IPv4 tail);
      // times such as 12:30:45 are dropped here, before node:net's parser (~2 µs a call).
      if (!run.includes('::') && run.split(':').length < 7) return;
      if (!isIPv6(run) && run.endsWith(':') && !run.endsWith('::')) run = run.slice(0, -1);
      if (isIPv6(run)) found.push({ start: match.index, end: match.index + run.length, kind: 'ip_address', score: 0.6 });
    });
  },
};
