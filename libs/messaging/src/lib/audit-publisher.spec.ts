import { AUDIT_STREAM } from '@rungate/contracts';
import { pubAckProblem } from './audit-publisher';
import { encodeJson } from './bus';

describe('pubAckProblem: what JetStreamAuditSink takes as "stored"', () => {
  it('accepts an ack of the audit stream, first time or duplicate', () => {
    expect(pubAckProblem(encodeJson({ stream: AUDIT_STREAM, seq: 12 }))).toBeUndefined();
    expect(pubAckProblem(encodeJson({ stream: AUDIT_STREAM, seq: 12, duplicate: true }))).toBeUndefined();
  });

  it('refuses JetStream errors, with their code and description', () => {
    const problem = pubAckProblem(encodeJson({ error: { code: 400, err_code: 10060, description: 'expected stream does not match' } }));
    expect(problem).toBe('JetStream error 10060: expected stream does not match');
  });

  it('refuses anything that is not an ack of the audit stream', () => {
    expect(pubAckProblem(encodeJson({ stream: 'OTHER', seq: 1 }))).toMatch(/not a JetStream ack/);
    expect(pubAckProblem(encodeJson({ stream: AUDIT_STREAM }))).toMatch(/not a JetStream ack/);
    expect(pubAckProblem(encodeJson({ stream: AUDIT_STREAM, seq: '1' }))).toMatch(/not a JetStream ack/);
    expect(pubAckProblem(encodeJson(null))).toMatch(/not a JetStream ack/);
    expect(pubAckProblem(encodeJson('ok'))).toMatch(/not a JetStream ack/);
    expect(pubAckProblem(new Uint8Array())).toBe('the answer is not JSON');
    expect(pubAckProblem(new TextEncoder().encode('+OK'))).toBe('the answer is not JSON');
  });
});
