import { SecretScrubber } from '@rungate/executors';
import { describeFailure, type FailureContext, type RunPhase } from './pg-errors';

const url = 'postgres://app:hunter2@db.internal:5432/app';
const context = (phase: RunPhase, extra: Partial<FailureContext> = {}): FailureContext => ({
  connection: 'app-db',
  address: 'db.internal:5432',
  phase,
  scrubber: SecretScrubber.forUrl(url),
  readOnly: false,
  timeoutMs: 1000,
  cancelled: false,
  ...extra,
});
const pgError = (message: string, code: string, more: Record<string, string> = {}) => Object.assign(new Error(message), { code, ...more });

describe('pg failures as typed errors', () => {
  it('reports an unreachable target by address, never by URL', () => {
    const refused = Object.assign(new Error(`connect ECONNREFUSED 10.0.0.1:5432 (${url})`), { code: 'ECONNREFUSED' });
    const error = describeFailure(refused, context('connect'));
    expect(error.code).toBe('TARGET_UNAVAILABLE');
    expect(error.message).toBe('cannot reach the database of connection app-db (db.internal:5432): connection refused; nothing was executed');
    expect(describeFailure(pgError('password authentication failed for user "app"', '28P01'), context('connect')).message).toMatch(
      /rejected the executor's credentials; nothing was executed$/,
    );
    expect(describeFailure(new Error('timeout expired'), context('connect')).message).toMatch(/connection timed out/);
    expect(describeFailure(new Error('Connection terminated due to connection timeout'), context('connect')).message).toMatch(/connection timed out/);
    expect(describeFailure(new Error('timeout exceeded when trying to connect'), context('connect')).message).toMatch(/pooled connection stayed busy/);
    expect(describeFailure(new AggregateError([]), context('connect')).code).toBe('TARGET_UNAVAILABLE');
  });

  it('says what is known when the connection dies mid-run', () => {
    expect(describeFailure(new Error('Connection terminated unexpectedly'), context('body'))).toMatchObject({
      code: 'TARGET_UNAVAILABLE',
      message: expect.stringMatching(/during the run .*not committed/),
    });
    expect(describeFailure(new Error('Connection terminated unexpectedly'), context('commit')).code).toBe('OUTCOME_UNKNOWN');
  });

  it('maps timeouts, cancellation and read-only violations', () => {
    expect(describeFailure(pgError('canceling statement due to statement timeout', '57014'), context('body')).code).toBe('TIMEOUT');
    expect(describeFailure(pgError('canceling statement due to user request', '57014'), context('body', { cancelled: true })).message).toBe(
      'the running statement was cancelled and the transaction rolled back',
    );
    expect(describeFailure(pgError('cannot execute UPDATE in a read-only transaction', '25006'), context('body')).message).toMatch(/@readonly/);
  });

  it('passes SQL errors on with their SQLSTATE, detail and hint, scrubbed', () => {
    const error = describeFailure(
      pgError('duplicate key value violates unique constraint "users_pkey"', '23505', { detail: 'Key (user_id)=(1) already exists.', hint: 'see hunter2' }),
      context('body'),
    );
    expect(error).toMatchObject({ code: 'EXECUTION_FAILED' });
    expect(error.message).toBe(
      'duplicate key value violates unique constraint "users_pkey" (Key (user_id)=(1) already exists.) [SQLSTATE 23505]; hint: see [REDACTED]; the transaction was rolled back',
    );
  });
});
