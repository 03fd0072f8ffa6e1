import { globToLike } from '@rungate/persistence';
import { AuditQueryParams, describeQueryError, parseAuditTime } from './audit-query';

describe('audit query parameters', () => {
  const now = Date.parse('2025-06-01T12:00:00Z');

  it('reads RFC 3339 times and look-backs, and nothing else', () => {
    expect(parseAuditTime('2025-05-31', now)?.toISOString()).toBe('2025-05-31T00:00:00.000Z');
    expect(parseAuditTime('2025-05-31T08:30:00+02:00', now)?.toISOString()).toBe('2025-05-31T06:30:00.000Z');
    expect(parseAuditTime('15m', now)?.toISOString()).toBe('2025-06-01T11:45:00.000Z');
    expect(parseAuditTime('7d', now)?.toISOString()).toBe('2025-05-25T12:00:00.000Z');
    for (const bad of ['yesterday', '1y', '-5m', 'June 1, 2025', '2025-13-45', '1717243200', '']) expect(parseAuditTime(bad, now)).toBeUndefined();
  });

  it('turns a query string into a query, with defaults', () => {
    expect(AuditQueryParams.parse({ user: 'alice@example.com', since: '2025-05-31', after: '42', limit: '10', type: 'audit.admin.*' })).toEqual({
      user: 'alice@example.com',
      since: new Date('2025-05-31T00:00:00Z'),
      afterSeq: 42,
      limit: 10,
      order: 'asc',
      type: 'audit.admin.*',
    });
    expect(AuditQueryParams.parse({})).toEqual({ limit: 100, order: 'asc' });
  });

  it('refuses unknown, repeated and out-of-range parameters, naming them', () => {
    const problem = (query: Record<string, unknown>) => {
      const result = AuditQueryParams.safeParse(query);
      return result.success ? 'accepted' : describeQueryError(result.error);
    };
    expect(problem({ usr: 'alice' })).toMatch(/unknown parameter\(s\) usr/);
    expect(problem({ user: ['a', 'b'] })).toMatch(/^user:/);
    expect(problem({ limit: '0' })).toMatch(/^limit:/);
    expect(problem({ limit: '1001' })).toMatch(/^limit:/);
    expect(problem({ after: '-1' })).toMatch(/^after:/);
    expect(problem({ until: 'soon' })).toMatch(/^until: expected an RFC 3339 time/);
    expect(problem({ user: 'x'.repeat(513) })).toMatch(/^user:/);
  });

  it('takes runbook and type globs literally except for *', () => {
    expect(globToLike('ops/postgres/*')).toBe('ops/postgres/%');
    expect(globToLike('ops/100%_done\\x*')).toBe('ops/100\\%\\_done\\\\x%');
  });
});
