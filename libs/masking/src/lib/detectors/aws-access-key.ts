import { eachMatch, type Detection, type Detector } from '../detection';

/** Access key ids: long-term (AKIA), temporary (ASIA) and the other credential-bearing prefixes. */
const KEY_ID = /(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])/g;
/**
 * Secret access keys are 40 characters of base64 with nothing that marks them, so only a
 * labelled one is found: `AWS_SECRET_ACCESS_KEY=…`, `aws_secret_access_key = …`,
 * `"SecretAccessKey": "…"` (what `aws sts assume-role` prints). Only the value is masked.
 */
const LABELLED_SECRET = /(?:aws_?)?secret_?access_?key["']?\s*[:=]\s*["']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/gi;

export const awsAccessKeyDetector: Detector = {
  kind: 'aws_access_key',
  applies: (features, text) => (features.upper >= 4 && (text.includes('AKIA') || text.includes('ASIA') || text.includes('ABIA') || text.includes('ACCA'))) || /ecret_?access/i.test(text),
  find(text: string, found: Detection[]): void {
    eachMatch(KEY_ID, text, (match) => {
      found.push({ start: match.index, end: match.index + match[0].length, kind: 'aws_access_key', score: 0.95 });
    });
    eachMatch(LABELLED_SECRET, text, (match) => {
      const secret = match[1] as string;
      const end = match.index + match[0].length;
      found.push({ start: end - secret.length, end, kind: 'aws_access_key', score: 0.9 });
    });
  },
};
