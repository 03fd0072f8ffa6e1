import fc from 'fast-check';
import { luhnValid } from '../lib/detectors';

const digit = fc.constantFrom(...'0123456789'.split(''));
const digits = (n: number) => fc.array(digit, { minLength: n, maxLength: n }).map((d) => d.join(''));
const lower = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'.split(''));
const word = (min: number, max: number) => fc.array(lower, { minLength: min, maxLength: max }).map((c) => c.join(''));
const b64url = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split(''));

function withCheckDigit(body: string): string {
  for (let d = 0; d <= 9; d++) if (luhnValid(`${body}${d}`)) return `${body}${d}`;
  throw new Error('unreachable');
}

/** Cards of real brands (Visa, Mastercard, Amex, Discover), Luhn-valid, printed plain or grouped. */
export const creditCard = fc
  .tuple(fc.constantFrom(['4', 16], ['51', 16], ['55', 16], ['34', 15], ['37', 15], ['6011', 16]), digits(15), fc.constantFrom('', ' ', '-'))
  .map(([[prefix, length], rest, separator]) => {
    const number = withCheckDigit(`${prefix as string}${rest}`.slice(0, (length as number) - 1));
    return separator ? (number.match(/.{1,4}/g) as string[]).join(separator) : number;
  });

/** Valid IBANs (published examples), electronic or grouped by four. */
export const iban = fc
  .tuple(fc.constantFrom('DE89370400440532013000', 'GB29NWBK60161331926819', 'FR1420041010050500013M02606', 'NL91ABNA0417164300', 'NO9386011117947'), fc.boolean())
  .map(([value, grouped]) => (grouped ? (value.match(/.{1,4}/g) as string[]).join(' ') : value));

export const email = fc
  .tuple(word(1, 8), fc.constantFrom('', '.', '+', '_'), word(1, 6), word(2, 10), fc.constantFrom('com', 'org', 'io', 'co.uk', 'example'))
  .map(([a, sep, b, domain, tld]) => `${a}${sep}${b}@${domain}.${tld}`);

export const phone = fc.oneof(
  fc.tuple(fc.constantFrom('+1', '+44', '+49', '+33'), digits(3), digits(3), digits(4), fc.constantFrom(' ', '-', '')).map(([cc, a, b, c, s]) => `${cc}${s || ' '}${a}${s}${b}${s}${c}`),
  fc.tuple(fc.integer({ min: 200, max: 999 }), fc.integer({ min: 200, max: 999 }), digits(4), fc.constantFrom('-', '.', ' ')).map(([a, b, c, s]) => `${a}${s}${b}${s}${c}`),
  fc.tuple(fc.integer({ min: 200, max: 999 }), fc.integer({ min: 200, max: 999 }), digits(4)).map(([a, b, c]) => `(${a}) ${b}-${c}`),
);

export const usSsn = fc
  .tuple(fc.integer({ min: 1, max: 899 }).filter((a) => a !== 666), fc.integer({ min: 1, max: 99 }), fc.integer({ min: 1, max: 9999 }), fc.constantFrom('-', ' '))
  .filter(([a, g, s]) => !(a === 123 && g === 45 && s === 6789) && !(a === 78 && g === 5 && s === 1120) && !(a === 219 && g === 9 && s === 9999))
  .map(([a, g, s, sep]) => `${String(a).padStart(3, '0')}${sep}${String(g).padStart(2, '0')}${sep}${String(s).padStart(4, '0')}`)
  .filter((ssn) => !/^(\d)\1\1.\1\1.\1\1\1\1$/.test(ssn));

const octet = fc.integer({ min: 0, max: 255 }).map(String);
const hexGroup = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16));
export const ipAddress = fc.oneof(
  fc.tuple(octet, octet, octet, octet).map((o) => o.join('.')),
  fc.array(hexGroup, { minLength: 8, maxLength: 8 }).map((g) => g.join(':')),
  fc.tuple(fc.array(hexGroup, { minLength: 1, maxLength: 3 }), fc.array(hexGroup, { minLength: 1, maxLength: 3 })).map(([a, b]) => `${a.join(':')}::${b.join(':')}`),
);

const segment = (min: number, max: number) => fc.array(b64url, { minLength: min, maxLength: max }).map((c) => c.join(''));
export const jwt = fc
  .tuple(fc.constantFrom('HS256', 'RS256', 'EdDSA'), word(1, 10), segment(0, 43))
  .map(([alg, sub, signature]) => {
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    return `${encode({ alg, typ: 'JWT' })}.${encode({ sub })}.${signature}`;
  });

const upperOrDigit = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'.split(''));
export const awsAccessKey = fc
  .tuple(fc.constantFrom('AKIA', 'ASIA'), fc.array(upperOrDigit, { minLength: 16, maxLength: 16 }))
  .map(([prefix, rest]) => `${prefix}${rest.join('')}`);

const b64 = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.split(''));
export const privateKey = fc
  .tuple(fc.constantFrom('', 'RSA ', 'EC ', 'OPENSSH '), fc.array(fc.array(b64, { minLength: 8, maxLength: 64 }).map((c) => c.join('')), { minLength: 1, maxLength: 4 }))
  .map(([type, lines]) => `-----BEGIN ${type}PRIVATE KEY-----\n${lines.join('\n')}\n-----END ${type}PRIVATE KEY-----`);

export const bearerToken = fc.tuple(fc.constantFrom('Bearer ', 'bearer '), segment(12, 40)).map(([scheme, token]) => `${scheme}${token}`);

/** One value of every built-in kind, as it would stand in a result or a log. */
export const entityValue = fc.oneof(creditCard, iban, email, phone, usSsn, ipAddress, jwt, awsAccessKey, privateKey, bearerToken);

/**
 * What stands between values, chosen to provoke: separators, digits and letters that could
 * extend a value, asterisks and brackets like masking's own tokens, markdown emphasis.
 */
const filler = fc.oneof(
  fc.constantFrom(' ', '\n', ', ', ': ', '; ', '\t', ' | ', '"', "'", '(', ')', '[', ']', '**', '****', '*', '#', '=', '@', '.', '-', '+', '/', ':'),
  fc.string({ unit: fc.constantFrom(...' abcxyzABCXYZ0123456789.-_@:+*#[]()/='.split('')), maxLength: 12 }),
  word(1, 10),
  fc.integer({ min: 0, max: 99999 }).map(String),
);

/** Texts mixing values and provocative filler: what the property tests run masking over. */
export const textWithEntities = fc.array(fc.oneof({ weight: 2, arbitrary: entityValue }, { weight: 3, arbitrary: filler }), { minLength: 1, maxLength: 12 }).map((parts) => parts.join(''));
