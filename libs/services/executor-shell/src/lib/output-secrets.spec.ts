import type { ProcessOutput } from '@rungate/contracts';
import { REDACTED, redactSecrets } from './output-secrets';

const output = (stdout: string, stderr = '', truncated = false): ProcessOutput => ({ kind: 'process', exitCode: 0, stdout, stderr, truncated });

describe('redactSecrets', () => {
  it('replaces every verbatim occurrence in stdout and stderr', () => {
    const result = redactSecrets(output('AWS_SECRET=hunter2-xyz\nagain hunter2-xyz', 'token ghp_abc123 leaked'), ['hunter2-xyz', 'ghp_abc123'], 10_000);
    expect(result).toEqual(output(`AWS_SECRET=${REDACTED}\nagain ${REDACTED}`, `token ${REDACTED} leaked`));
  });

  it('hides a longer secret whole even when a shorter one is inside it', () => {
    expect(redactSecrets(output('abcdefgh'), ['cde', 'abcdefgh'], 100).stdout).toBe(REDACTED);
  });

  it('leaves output alone when there is no secret, or only ones too short to hide', () => {
    const plain = output('ab ab ab');
    expect(redactSecrets(plain, [], 100)).toBe(plain);
    expect(redactSecrets(plain, ['ab'], 100)).toBe(plain);
  });

  it('hides the start of a secret that the byte cap cut off', () => {
    expect(redactSecrets(output('key=s3cr', '', true), ['s3cret-value'], 100).stdout).toBe(`key=${REDACTED}`);
    // Not cut: a coincidental prefix at the end is ordinary text.
    expect(redactSecrets(output('key=s3cr'), ['s3cret-value'], 100).stdout).toBe('key=s3cr');
  });

  it('hides a cut-off secret whose last kept character was split by the cap', () => {
    expect(redactSecrets(output('pw=pä\uFFFD', '', true), ['päß-secret'], 100).stdout).toBe(`pw=${REDACTED}`);
  });

  it('keeps the byte cap when redaction lengthens the text, and says it truncated', () => {
    const result = redactSecrets(output('abc abc abc', 'abc'), ['abc'], 25);
    expect(result).toEqual(output(`${REDACTED} ${REDACTED} [RE`, '', true));
  });

  it('does not split a multi-byte character when it cuts', () => {
    const result = redactSecrets(output('€€€€ abc'), ['abc'], 10);
    expect(result.stdout).toBe('€€€');
    expect(result.truncated).toBe(true);
  });
});
