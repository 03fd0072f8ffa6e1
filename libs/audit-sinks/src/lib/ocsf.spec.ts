import { completedRunEvent } from '../testing/events';
import { ocsfActivity, toOcsf } from './ocsf';

describe('OCSF API Activity mapping', () => {
  it('maps a completed run field by field', () => {
    const event = completedRunEvent();
    expect(toOcsf(event)).toEqual({
      class_uid: 6003,
      class_name: 'API Activity',
      category_uid: 6,
      category_name: 'Application Activity',
      activity_id: 3,
      activity_name: 'Update',
      type_uid: 600303,
      type_name: 'API Activity: Update',
      time: Date.UTC(2025, 2, 4, 5, 6, 7, 890),
      severity_id: 1,
      severity: 'Informational',
      status_id: 1,
      status: 'Success',
      duration: 12.5,
      message: 'audit.run.completed: alice via claude-code postgres.orders_by_customer (succeeded)',
      actor: {
        user: { name: 'alice', groups: [{ name: 'sre' }, { name: 'oncall' }], credential_uid: 'tok-7' },
        app_name: 'claude-code',
      },
      src_endpoint: { ip: '10.0.0.5' },
      http_request: { user_agent: 'mcp-client/1.2' },
      api: { operation: 'postgres.orders_by_customer', service: { name: 'rungate' }, request: { uid: 'run-42' } },
      resources: [
        {
          type: 'runbook',
          name: 'postgres/orders.yaml',
          uid: 'ops-runbooks:postgres/orders.yaml@a1b2c3d',
          data: { repository: 'ops-runbooks', path: 'postgres/orders.yaml', commit: 'a1b2c3d', sha256: 'f'.repeat(64) },
        },
        { type: 'connection', name: 'orders-db', data: { type: 'postgres' } },
      ],
      metadata: {
        version: '1.1.0',
        product: { name: 'Rungate', vendor_name: 'Rungate' },
        uid: event.id,
        correlation_uid: 'run-42',
        original_time: '2025-03-04T05:06:07.890Z',
        log_name: 'AUDIT',
      },
      unmapped: {
        type: 'audit.run.completed',
        source: 'executor-postgres',
        params: { customer: '42', token: '[redacted]' },
        outcome: event.outcome,
      },
    });
  });

  it.each([
    ['audit.run.received', 99, 'Run received'],
    ['audit.run.decided', 99, 'Run decided'],
    ['audit.run.approved', 99, 'Run approved'],
    ['audit.run.rejected', 99, 'Run rejected'],
    ['audit.run.started', 1, 'Create'],
    ['audit.run.completed', 3, 'Update'],
    ['audit.run.failed', 3, 'Update'],
    ['audit.catalog.published', 99, 'Catalog published'],
    ['audit.admin.malformed_event', 99, 'Admin malformed_event'],
  ])('%s is activity %d (%s), type_uid 6003xx', (type, id, name) => {
    expect(ocsfActivity(type)).toEqual({ id, name });
    expect(toOcsf(completedRunEvent({ type })).type_uid).toBe(600300 + id);
  });

  it.each([
    [{ outcome: { status: 'failed' as const, exitCode: 2, errorCode: 'EXECUTION_FAILED', error: 'relation does not exist' } }, 2, 'Failure', 3, 'EXECUTION_FAILED', 'relation does not exist'],
    [{ outcome: { status: 'refused' as const } }, 2, 'Failure', 3, undefined, undefined],
    [{ outcome: { status: 'unknown' as const, exitCode: 137 } }, 0, 'Unknown', 1, '137', undefined],
    [{ outcome: { status: 'timed_out' as const, exitCode: null, errorCode: 'TIMEOUT', error: 'run r1 was stopped' } }, 2, 'Failure', 3, 'TIMEOUT', 'run r1 was stopped'],
    [{ outcome: { status: 'cancelled' as const, exitCode: null, errorCode: 'CANCELLED', error: 'run r1 was cancelled by its caller' } }, 99, 'Other', 1, 'CANCELLED', 'run r1 was cancelled by its caller'],
    [{ outcome: undefined, decision: { effect: 'deny' as const, rule: 'no-prod', reason: 'not on call' } }, 2, 'Failure', 3, undefined, 'not on call'],
    [{ outcome: undefined, decision: { effect: 'allow' as const, rule: 'sre' } }, 1, 'Success', 1, undefined, undefined],
    [{ outcome: undefined, decision: { effect: 'approval_required' as const } }, 99, 'Other', 1, undefined, undefined],
    [{ outcome: undefined }, 0, 'Unknown', 1, undefined, undefined],
  ])('status and severity of %j', (overrides, statusId, status, severityId, code, detail) => {
    const ocsf = toOcsf(completedRunEvent(overrides));
    expect(ocsf).toMatchObject({ status_id: statusId, status, severity_id: severityId });
    expect(ocsf.status_code).toBe(code);
    expect(ocsf.status_detail).toBe(detail);
  });

  it('keeps events without actor, runbook or tool valid and loses nothing', () => {
    const event = completedRunEvent({
      type: 'audit.catalog.published',
      source: 'git-sync',
      runId: undefined,
      actor: undefined,
      runbook: undefined,
      tool: undefined,
      connection: undefined,
      params: undefined,
      outcome: undefined,
      details: { repository: 'ops-runbooks', commit: 'abc' },
    });
    const ocsf = toOcsf(event);
    expect(ocsf.actor).toEqual({});
    expect(ocsf.src_endpoint).toEqual({});
    expect(ocsf.api).toEqual({ operation: 'audit.catalog.published', service: { name: 'rungate' } });
    expect(ocsf.resources).toBeUndefined();
    expect(ocsf.metadata.correlation_uid).toBeUndefined();
    expect(ocsf.message).toBe('audit.catalog.published: git-sync');
    expect(ocsf.unmapped).toEqual({ type: 'audit.catalog.published', source: 'git-sync', details: { repository: 'ops-runbooks', commit: 'abc' } });
  });

  it('is pure: same input, same output, input untouched', () => {
    const event = completedRunEvent();
    const copy = structuredClone(event);
    expect(toOcsf(event)).toEqual(toOcsf(copy));
    expect(event).toEqual(copy);
  });
});
