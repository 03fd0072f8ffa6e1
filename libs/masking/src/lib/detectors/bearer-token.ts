import { eachMatch, type Detection, type Detector } from '../detection';

/** RFC 6750's token68 characters; the classes stop at anything else, so each scan is linear. */
const BEARER = /(?<!\w)bearer[ \t]+([A-Za-z0-9\-._~+/]{8,}=*)/gi;
/** OAuth token responses and config files: `"access_token": "…"`, `refresh_token=…`. */
const LABELLED = /(?<!\w)(?:access|refresh|id)_token["']?\s*[:=]\s*["']?([A-Za-z0-9\-._~+/]{16,}=*)/gi;

/** Only the token is masked: `Authorization: Bearer [BEARER_TOKEN]` still says what it was. */
export const bearerTokenDetector: Detector = {
  kind: 'bearer_token',
  applies: (_features, text) => /earer|_token/i.test(text),
  find(text: string, found: Detection[]): void {
    for (const pattern of [BEARER, LABELLED]) {
      eachMatch(pattern, text, (match) => {
        const token = match[1] as string;
        const end = match.index + match[0].length;
        found.push({ start: end - token.length, end, kind: 'bearer_token', score: 0.9 });
      });
    }
  },
};
