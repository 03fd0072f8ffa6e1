import { loadSqlParser, type SqlParser } from '@rungate/guardrails';
import { POSTGRES, parseRunbook, renderRunbook } from '@rungate/runbooks';
import { ProposalError, proposeRunbook, runbookPathFor } from './propose';

let parser: SqlParser;
beforeAll(async () => {
  parser = await loadSqlParser();
});

const origin = { runId: 'run-1', user: 'alice@example.com', agent: 'claude-code', connection: 'analytics', time: '2026-12-08T03:12:00Z' };

function propose(statement: string, path = 'team/find-stuck-orders.sql') {
  return proposeRunbook(parser, { statement, path, description: 'Find stuck orders', origin });
}

describe('turning an explored statement into a runbook', () => {
  it('lifts the values it filters by into typed parameters, strings inside their quotes, and keeps the rest', () => {
    const proposal = propose(
      "SELECT o.id, o.status, date_trunc('day', o.created) AS day FROM orders o WHERE o.status = 'stuck' AND o.created < '2026-12-01' AND o.amount >= 10.5 AND o.retries > -1 AND o.paid = false AND o.owner = 'ops@example.com' ORDER BY 1 LIMIT 50",
    );
    expect(proposal.path).toBe('team/find-stuck-orders.runbook.sql');
    expect(proposal.parameters).toEqual([
      { name: 'status', type: 'text', value: 'stuck' },
      { name: 'created', type: 'date', value: '2026-12-01' },
      { name: 'amount', type: 'number', value: '10.5' },
      { name: 'retries', type: 'number', value: '-1' },
      { name: 'paid', type: 'boolean', value: 'false' },
      { name: 'owner', type: 'email', value: 'ops@example.com' },
      { name: 'limit', type: 'number', value: '50' },
    ]);
    expect(proposal.source).toContain("date_trunc('day', o.created)");
    expect(proposal.source).toContain("o.status = '{{ .status | type \"text\" | required \"status is required\" }}'");
    expect(proposal.source).toContain('o.amount >= {{ .amount | type "number" | required "amount is required" | placeholder "10.5" }}');
    expect(proposal.source).toContain('ORDER BY 1 LIMIT {{ .limit');
    // Text and e-mail values are not written into Git; dates and numbers are, as examples.
    expect(proposal.source).not.toContain('ops@example.com');
    expect(proposal.source).not.toContain("'stuck'");
    expect(proposal.source.split('\n').slice(0, 2)).toEqual(['-- @description Find stuck orders', '-- @readonly']);
  });

  it('yields a runbook the linter accepts, which rendered with the explored values is the explored statement', () => {
    const statement = "select * from orders where status in ('stuck', 'late') and created between '2026-01-01' and '2026-02-01' and note like '%it''s%'";
    const proposal = propose(statement);
    const parsed = parseRunbook(proposal.path, proposal.source);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.findings));
    expect(parsed.runbook.metadata.readOnly).toBe(true);
    expect(parsed.runbook.parameters.map((p) => [p.name, p.type, p.required])).toEqual([
      ['status', 'text', true],
      ['status_2', 'text', true],
      ['created_from', 'date', true],
      ['created_to', 'date', true],
      ['note', 'text', true],
    ]);
    const values = Object.fromEntries(proposal.parameters.map((p) => [p.name, p.value]));
    expect(parser.fingerprint(renderRunbook(parsed.runbook, values, POSTGRES))).toBe(parser.fingerprint(statement));
    expect(values['note']).toBe("%it's%");
  });

  it('reuses one parameter for the same column and value, and names values by the column they are compared with', () => {
    const proposal = propose("SELECT * FROM t WHERE a = 1 OR (a = 1 AND 'x' = b) OFFSET 5");
    expect(proposal.parameters.map((p) => p.name)).toEqual(['a', 'b', 'offset']);
    expect(proposal.source.match(/\{\{ \.a/g)).toHaveLength(2);
  });

  it('keeps forms a runbook parameter cannot stand for as written: E-strings, dollar quotes, typmods, hex numbers', () => {
    const proposal = propose("SELECT 1::numeric(10,2) FROM t WHERE a = E'x\\ny' AND b = $$z$$ AND c = 0x1F AND d = 7");
    expect(proposal.parameters.map((p) => p.name)).toEqual(['d']);
    expect(proposal.source).toContain("E'x\\ny'");
  });

  it('refuses what an exploration could not have run, and paths outside the repository', () => {
    expect(() => propose('DELETE FROM orders WHERE id = 1')).toThrow(ProposalError);
    expect(() => propose('SELECT 1', '../escape.sql')).toThrow(/relative path inside the repository/);
    expect(() => propose('SELECT 1', '/etc/x.sql')).toThrow(ProposalError);
    expect(() => propose('SELECT 1', 'team/x.sh')).toThrow(/end the path with \.sql/);
    expect(runbookPathFor('team/x.runbook.sql')).toBe('team/x.runbook.sql');
  });

  it('refuses a statement whose text the template language would read as a placeholder', () => {
    expect(() => propose("SELECT * FROM t WHERE a = '{{ .x }}'")).not.toThrow();
    expect(() => propose('SELECT 1 AS "{{ .x }}"')).toThrow(/contains \{\{ or \}\} outside the values it filters by/);
  });
});
