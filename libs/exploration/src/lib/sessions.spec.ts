import type { AuditEvent } from '@rungate/contracts';
import { formatBacklog, rankBacklog, type BacklogCount } from './backlog';
import { explorationSessionId, formatTranscript, sessionTranscript } from './sessions';

const alice = { user: 'alice@example.com', agent: 'claude-code', tokenId: 'tok_1' };
const at = new Date('2026-12-08T03:12:00Z');

describe('exploration session ids', () => {
  it('group by MCP session when there is one, else by token and UTC hour; never across callers', () => {
    const id = explorationSessionId(alice, 'mcp-1', at);
    expect(id).toMatch(/^ses_[0-9a-f]{24}$/);
    expect(explorationSessionId(alice, 'mcp-1', new Date('2026-12-09T10:00:00Z'))).toBe(id);
    expect(explorationSessionId(alice, 'mcp-2', at)).not.toBe(id);
    expect(explorationSessionId({ ...alice, user: 'bob@example.com' }, 'mcp-1', at)).not.toBe(id);
    const hourly = explorationSessionId(alice, undefined, at);
    expect(explorationSessionId(alice, undefined, new Date('2026-12-08T03:59:59Z'))).toBe(hourly);
    expect(explorationSessionId(alice, undefined, new Date('2026-12-08T04:00:00Z'))).not.toBe(hourly);
    expect(explorationSessionId({ ...alice, tokenId: 'tok_2' }, undefined, at)).not.toBe(hourly);
  });
});

describe('transcripts', () => {
  const session = explorationSessionId(alice, 'mcp-1', at);
  let n = 0;
  const event = (fields: Partial<AuditEvent>): AuditEvent => ({ v: 1, id: `e${++n}`, time: `2026-12-08T03:12:0${n % 10}Z`, source: 'test', type: 'audit.run.decided', ...fields });
  const actor = { user: alice.user, groups: ['oncall'], agent: alice.agent };
  const events: AuditEvent[] = [
    event({ runId: 'r1', tool: 'explore_sql', actor, connection: { name: 'replica', type: 'postgres' }, params: { sql: 'SELECT *\nFROM orders' }, decision: { effect: 'allow', rule: 'x' }, details: { session, fingerprint: 'f1' } }),
    event({ type: 'audit.run.started', runId: 'r1', details: { session } }),
    event({ type: 'audit.run.completed', runId: 'r1', outcome: { status: 'succeeded', rows: 5, bytes: 200, truncated: true, durationMs: 3.4, masking: { profile: 'pii', sha256: 'a', counts: { email: 5 } } }, details: { rowCount: 12 } }),
    event({ runId: 'r2', tool: 'explore_sql', actor, connection: { name: 'replica', type: 'postgres' }, params: { sql: 'DELETE FROM orders' }, decision: { effect: 'deny', reason: 'the statement is DELETE' }, outcome: { status: 'denied' }, details: { session } }),
    event({ type: 'audit.run.decided', runId: 'r3', tool: 'explore_sql', actor, params: { sql: 'SELECT 1' }, decision: { effect: 'allow' }, details: { session: 'ses_000000000000000000000000' } }),
    event({ type: 'audit.admin.session.reviewed', actor: { user: 'carol@example.com', groups: ['auditors'] }, details: { session, comment: 'fine' } }),
  ];

  it('read each call: the full statement, the decision, rows of all, masking; and the reviews', () => {
    const transcript = sessionTranscript(session, events);
    expect(transcript?.session).toMatchObject({ id: session, user: alice.user, agent: 'claude-code', calls: 2, refused: 1, tools: ['explore_sql'], connections: ['replica'], reviews: 1 });
    expect(transcript?.entries).toEqual([
      expect.objectContaining({ runId: 'r1', decision: 'allow', status: 'succeeded', rows: 5, rowCount: 12, truncated: true, masked: { email: 5 }, fingerprint: 'f1', request: { sql: 'SELECT *\nFROM orders' } }),
      expect.objectContaining({ runId: 'r2', decision: 'deny', status: 'denied', reason: 'the statement is DELETE' }),
    ]);
    const text = formatTranscript(transcript as NonNullable<typeof transcript>);
    expect(text).toContain('   sql: SELECT *\n        FROM orders');
    expect(text).toContain('succeeded: 5 row(s) returned of 12, truncated, 200 bytes, 3 ms\n   masked: email 5');
    expect(text).toContain('refused: the statement is DELETE');
    expect(text).toContain('by carol@example.com: fine');
    expect(sessionTranscript('ses_111111111111111111111111', events)).toBeUndefined();
  });
});

describe('the backlog', () => {
  const base = { example: 'x', firstSeen: '2026-12-01T00:00:00Z', lastSeen: '2026-12-02T00:00:00Z' };
  const counts: BacklogCount[] = [
    { ...base, kind: 'repeated-query', key: 'once', count: 1, agents: 1, users: 1 },
    { ...base, kind: 'repeated-query', key: 'loop', count: 9, agents: 1, users: 1, runId: 'r9' },
    { ...base, kind: 'missing-tool', key: 'ops.restart_worker', count: 4, agents: 3, users: 2 },
    { ...base, kind: 'denied-tool', key: 'demo.reports.x', count: 2, agents: 1, users: 1, lastSeen: '2026-12-05T00:00:00Z' },
    { ...base, kind: 'denied-tool', key: 'demo.reports.y', count: 2, agents: 1, users: 1 },
  ];

  it('ranks by count times distinct agents and people; a query explored once is not backlog', () => {
    const ranked = rankBacklog(counts, 10);
    expect(ranked.map((item) => [item.key, item.score])).toEqual([
      ['ops.restart_worker', 24],
      ['loop', 9],
      ['demo.reports.x', 2],
      ['demo.reports.y', 2],
    ]);
    expect(rankBacklog(counts, 1)).toHaveLength(1);
    expect(formatBacklog(ranked)).toContain('propose: rungate runbooks propose --from-run r9 --path <team>/<name>.sql');
    expect(formatBacklog([])).toMatch(/nothing in the backlog/);
  });
});
