import { eachMatch, type Detection, type Detector } from '../detection';

/** PEM and PGP private key headers: `-----BEGIN [RSA |EC |OPENSSH |ENCRYPTED |PGP ]PRIVATE KEY[ BLOCK]-----`. */
const BEGIN = /-----BEGIN ((?:[A-Z0-9]+ ){0,3})PRIVATE KEY( BLOCK)?-----/g;

/**
 * The whole block, header to footer. A block without its footer — output cut by the byte cap,
 * or a key printed half — is masked to the end of the text: key material is never left visible.
 * Certificates and public keys are not secrets and stay visible.
 */
export const privateKeyDetector: Detector = {
  kind: 'private_key',
  applies: (_features, text) => text.includes('-----BEGIN '),
  find(text: string, found: Detection[]): void {
    eachMatch(BEGIN, text, (match) => {
      const footer = `-----END ${match[1] ?? ''}PRIVATE KEY${match[2] ?? ''}-----`;
      const at = text.indexOf(footer, match.index + match[0].length);
      const end = at < 0 ? text.length : at + footer.length;
      found.push({ start: match.index, end, kind: 'private_key', score: 1 });
      BEGIN.lastIndex = end;
    });
  },
};
