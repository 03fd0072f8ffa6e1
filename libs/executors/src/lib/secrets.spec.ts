import { SecretScrubber } from './secrets';

describe('SecretScrubber', () => {
  it('hides a connection URL, its password (plain and percent-encoded) and its user info', () => {
    const url = 'postgres://app:p%40ss%2Fword@db.internal:5432/app?sslmode=require';
    const scrubber = SecretScrubber.forUrl(url);
    expect(scrubber.scrub(`could not connect with ${url}`)).toBe('could not connect with [REDACTED]');
    expect(scrubber.scrub('password p@ss/word rejected')).toBe('password [REDACTED] rejected');
    expect(scrubber.scrub('password p%40ss%2Fword rejected')).toBe('password [REDACTED] rejected');
    expect(scrubber.scrub('relation "users" does not exist')).toBe('relation "users" does not exist');
  });

  it('hides credentials in any URL, even ones it was not told about', () => {
    expect(new SecretScrubber([]).scrub('fetch https://bob:s3cret@example.com/x failed')).toBe('fetch https://[REDACTED]@example.com/x failed');
  });

  it('ignores secrets too short to hide without mangling ordinary text', () => {
    expect(new SecretScrubber(['ab']).scrub('abc')).toBe('abc');
  });
});
