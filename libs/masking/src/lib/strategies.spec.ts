import { allEntities } from '../testing/profiles';
import { maskText } from './mask-text';
import { hashToken, maskValue } from './strategies';
import { MaskingTally } from './tally';

const SAMPLE = 'alice@example.com paid 4111 1111 1111 1111 from DE89 3704 0044 0532 0130 00, SSN 536-90-4399, +1 202-555-0143, host 192.168.10.20';

function masked(strategy: 'redact' | 'mask' | 'partial' | 'hash', text = SAMPLE): string {
  return maskText(text, allEntities(strategy), new MaskingTally());
}

describe('strategies', () => {
  it('redact replaces each value with its kind', () => {
    expect(masked('redact')).toBe('[EMAIL] paid [CREDIT_CARD] from [IBAN], SSN [US_SSN], [PHONE], host [IP_ADDRESS]');
  });

  it('mask shows the last four characters, never more than half of a value', () => {
    expect(masked('mask')).toBe('****ecom paid ****1111 from ****3000, SSN ****4399, ****0143, host ****1020');
    expect(maskValue('nightjar')).toBe('****tjar');
    expect(maskValue('bob')).toBe('****b');
    expect(maskValue('4111111111111111', 2)).toBe('****11');
    expect(maskValue('ab', 0)).toBe('****');
  });

  it('partial keeps what identifies the format', () => {
    expect(masked('partial')).toBe('a***@example.com paid **** **** **** 1111 from DE** **** **** **** **30 00, SSN ***-**-4399, +* ***-***-0143, host 192.168.*.*');
    expect(masked('partial', 'key AKIAIOSFODNN7EXAMPLE at 2001:db8::1 token Bearer abcdefghijkl')).toBe('key AKIA************MPLE at 2001:db8:* token Bearer abcd***');
  });

  it('partial of a private key is a redaction: none of a key is safe to show', () => {
    expect(masked('partial', '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----')).toBe('[PRIVATE_KEY]');
    expect(masked('mask', '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----')).toBe('[PRIVATE_KEY]');
  });

  it('hash gives equal values equal tokens, whatever their print, so results still join', () => {
    const text = masked('hash', 'ALICE@example.com alice@example.com 4111-1111-1111-1111 4111111111111111 bob@example.com');
    const [a, b, c, d, e] = text.split(' ');
    expect(a).toMatch(/^\[EMAIL#[g-v]{16}\]$/);
    expect(a).toBe(b);
    expect(c).toBe(d);
    expect(c).toMatch(/^\[CREDIT_CARD#[g-v]{16}\]$/);
    expect(e).not.toBe(a);
  });

  it('hash depends on the key: without it a token cannot be recomputed from a guess', () => {
    expect(hashToken('email', 'alice@example.com', Buffer.from('one'))).not.toBe(hashToken('email', 'alice@example.com', Buffer.from('two')));
  });
});
