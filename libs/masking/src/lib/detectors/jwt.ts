import { eachMatch, type Detection, type Detector } from '../detection';

/**
 * Three base64url segments, the first two JSON objects (base64 of `{"` is `eyJ`). The classes
 * exclude the dots between segments, so the scan is linear. The signature may be empty
 * (`alg: none`).
 */
const CANDIDATE = /(?<![\w-])eyJ[\w-]{5,}\.eyJ[\w-]{2,}\.[\w-]*/g;

/** 0.95 when the header decodes to a JSON object naming its `alg`, 0.6 for what only looks like one. */
function headerScore(segment: string): number {
  try {
    const header: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof header === 'object' && header !== null && typeof (header as { alg?: unknown }).alg === 'string' ? 0.95 : 0.6;
  } catch {
    return 0.6;
  }
}

export const jwtDetector: Detector = {
  kind: 'jwt',
  applies: (_features, text) => text.includes('eyJ'),
  find(text: string, found: Detection[]): void {
    eachMatch(CANDIDATE, text, (match) => {
      const header = match[0].slice(0, match[0].indexOf('.'));
      found.push({ start: match.index, end: match.index + match[0].length, kind: 'jwt', score: headerScore(header) });
    });
  },
};
