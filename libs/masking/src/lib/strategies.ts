import { createHmac } from 'node:crypto';
import type { MaskingStrategy } from '@rungate/config';
import { InternalError } from '@rungate/contracts';

/** The report key and redaction label of values masked by a column rule. */
export const COLUMN_KIND = 'column';
/** Characters `mask` shows by default (`****1234`). */
export const DEFAULT_KEEP = 4;
/** Letters of a hash token: 64 bits of the HMAC, enough for joins, too few to brute-force a key. */
const HASH_LETTERS = 16;

export interface StrategyRule {
  strategy: MaskingStrategy;
  keep?: number;
}

const labels = new Map<string, string>([[COLUMN_KIND, 'REDACTED']]);

/** `email` → `EMAIL`, `employee_id` → `EMPLOYEE_ID`; column rules redact as `[REDACTED]`. */
export function labelOf(kind: string): string {
  let label = labels.get(kind);
  if (label === undefined) {
    label = kind.toUpperCase();
    labels.set(kind, label);
  }
  return label;
}

const isAlnum = (c: string) => (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
const isDigit = (c: string) => c >= '0' && c <= '9';

/**
 * `****` and the value's last alphanumerics, never more than half of them: a short value
 * (a deny-listed word) must not survive its own mask.
 */
export function maskValue(value: string, keep = DEFAULT_KEEP): string {
  let alnum = '';
  for (const c of value) if (isAlnum(c)) alnum += c;
  const shown = Math.min(keep, Math.floor(alnum.length / 2));
  return `****${shown > 0 ? alnum.slice(-shown) : ''}`;
}

/** Every character `hide` selects becomes `*`; separators stay, so the value keeps its print. */
function starred(value: string, hide: (c: string, index: number) => boolean): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    out += hide(c, i) ? '*' : c;
  }
  return out;
}

/** Positions of the last `count` characters that `select` picks, to leave them visible. */
function lastPositions(value: string, count: number, select: (c: string) => boolean): Set<number> {
  const kept = new Set<number>();
  for (let i = value.length - 1; i >= 0 && kept.size < count; i--) if (select(value[i] as string)) kept.add(i);
  return kept;
}

/** All digits but the last `count` starred: `**** **** **** 1111`, `***-**-6789`, `+** *** ***5678`. */
function lastDigits(value: string, count: number): string {
  const kept = lastPositions(value, count, isDigit);
  return starred(value, (c, i) => isDigit(c) && !kept.has(i));
}

/**
 * What identifies the format stays; what identifies the person does not. Each result is
 * something no detector finds again, so masking stays idempotent.
 */
const PARTIAL: Record<string, (value: string) => string> = {
  email: (value) => {
    const at = value.lastIndexOf('@');
    return `${value[0] ?? ''}***${value.slice(at)}`;
  },
  credit_card: (value) => lastDigits(value, 4),
  us_ssn: (value) => lastDigits(value, 4),
  phone: (value) => lastDigits(value, 4),
  iban: (value) => {
    const kept = lastPositions(value, 4, isAlnum);
    return starred(value, (c, i) => i >= 2 && isAlnum(c) && !kept.has(i));
  },
  ip_address: (value) => {
    if (!value.includes(':')) return value.split('.').map((octet, i) => (i < 2 ? octet : '*')).join('.');
    return `${value
      .split(':')
      .filter((group) => group !== '')
      .slice(0, 2)
      .join(':')}:*`;
  },
  jwt: (value) => `${value.slice(0, value.indexOf('.'))}.***`,
  aws_access_key: (value) => (/^A[A-Z]{3}/.test(value) && value.length === 20 ? `${value.slice(0, 4)}${'*'.repeat(12)}${value.slice(-4)}` : maskValue(value)),
  bearer_token: (value) => `${value.slice(0, 4)}***`,
};

/** So that equal values join: case and separators do not make a different token. */
function normalized(kind: string, value: string): string {
  switch (kind) {
    case 'email':
    case 'ip_address':
      return value.toLowerCase();
    case 'credit_card':
    case 'us_ssn':
    case 'phone':
      return value.replace(/\D/g, '');
    case 'iban':
      return value.replace(/\s/g, '').toUpperCase();
    default:
      return value;
  }
}

/**
 * `[EMAIL#hkpqmvgsnrtjolui]`: a keyed HMAC-SHA256 of the normalized value (not of its kind,
 * so the same address hashed in a column and in a log line gives the same letters). The
 * letters are the hex digits shifted to g–v, so a token has no digit and no hex run any
 * detector could take for a number or an address.
 */
export function hashToken(kind: string, value: string, key: Buffer): string {
  const hex = createHmac('sha256', key).update(normalized(kind, value)).digest('hex').slice(0, HASH_LETTERS);
  let letters = '';
  for (const c of hex) letters += String.fromCharCode(103 + parseInt(c, 16));
  return `[${labelOf(kind)}#${letters}]`;
}

const redactions = new Map<string, string>();

/** `[EMAIL]`, made once per kind (a wide result writes it thousands of times). */
function redaction(kind: string): string {
  let token = redactions.get(kind);
  if (token === undefined) {
    token = `[${labelOf(kind)}]`;
    redactions.set(kind, token);
  }
  return token;
}

export function applyStrategy(kind: string, value: string, rule: StrategyRule, hashKey: Buffer | undefined): string {
  switch (rule.strategy) {
    case 'redact':
      return redaction(kind);
    case 'mask':
      return kind === 'private_key' ? redaction(kind) : maskValue(value, rule.keep);
    case 'partial': {
      const partial = PARTIAL[kind];
      return partial ? partial(value) : redaction(kind);
    }
    case 'hash':
      if (!hashKey) throw new InternalError(`the hash strategy of ${kind} has no key`);
      return hashToken(kind, value, hashKey);
  }
}
