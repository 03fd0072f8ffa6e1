import { parseConfig } from '@rungate/config';
import { parseRunbook, type ParsedRunbook } from '@rungate/runbooks';
import { explainCallGuardrails } from './explain';
import { formatLintedGuardrails, lintRepositoryGuardrails } from './lint';

const config = parseConfig(`
repositories: [{ name: demo, url: /srv }]
connections:
  - { name: prod-db, type: postgres, url: env:PROD }
  - { name: staging-db, type: postgres, url: env:STAGING }
  - { name: box, type: shell }
  - { name: shop, type: mysql, url: env:SHOP }
users: [{ name: alice, groups: [eng] }, { name: lee, groups: [leads] }]
rules:
  - { name: eng, groups: [eng], connections: ["*"], runbooks: ["demo/**"], guardrails: [row-cap] }
  - { name: scripts, groups: [eng], connections: [box], runbooks: ["demo/sh/**"] }
guardrails:
  - { name: no-unbounded-writes, on: input, connections: ["prod-*", box], match: { sql: { requireWhere: true } }, message: Name the rows }
  - { name: reports-read-only, on: input, runbooks: ["demo/reports/**"], match: { sql: { statements: [select] } } }
  - { name: review-deletes, on: input, connections: [staging-db], match: { sql: { forbid: [delete] } }, action: require_approval, approval: { groups: [leads] } }
  - { name: no-rm-rf, on: input, runbooks: ["demo/sh/**"], match: { words: ["rm -rf"] } }
  - { name: row-cap, on: output, match: { maxRows: 100 } }
`);

const SOURCES: Record<string, string> = {
  'pg/purge.runbook.sql': 'DELETE FROM sessions -- WHERE user_id = 1\nRETURNING {{ .user_id | type "number" }} AS asked_for;\n',
  'pg/forget.runbook.sql': 'DELETE FROM sessions WHERE user_id = {{ .user_id | type "number" }};\n',
  'pg/status.runbook.sql': "UPDATE orders SET status = {{ .status | options \"open\" \"drop\" }} WHERE id = {{ .id | type \"number\" }};\n",
  'reports/daily.runbook.sql': "SELECT * FROM orders WHERE day = '{{ .day | type \"date\" }}';\n",
  'reports/orders.runbook.sql': '-- @connection-types postgres, mysql\nSELECT * FROM orders WHERE id = {{ .id | type "number" }};\n',
  'sh/clean.runbook.sh': 'rm -rf /srv/cache/{{ .dir }}\n',
  'sh/ok.runbook.sh': 'du -sh {{ .dir }}\n',
};

function runbooks(): ParsedRunbook[] {
  return Object.entries(SOURCES).map(([path, source]) => {
    const parsed = parseRunbook(path, source);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.findings));
    return parsed.runbook;
  });
}

describe('rungate lint with a configuration', () => {
  it('lists, per runbook, the guardrails that can apply and when', async () => {
    const { guardrails } = await lintRepositoryGuardrails(config, 'demo', runbooks());
    const listed = Object.fromEntries([...guardrails].map(([path, applying]) => [path, formatLintedGuardrails(applying)]));
    expect(listed).toEqual({
      'pg/purge.runbook.sql':
        'no-unbounded-writes (input, deny; on prod-db), review-deletes (input, require_approval; on staging-db), row-cap (output, deny; when rule eng allows it)',
      'pg/forget.runbook.sql':
        'no-unbounded-writes (input, deny; on prod-db), review-deletes (input, require_approval; on staging-db), row-cap (output, deny; when rule eng allows it)',
      'pg/status.runbook.sql':
        'no-unbounded-writes (input, deny; on prod-db), review-deletes (input, require_approval; on staging-db), row-cap (output, deny; when rule eng allows it)',
      'reports/daily.runbook.sql':
        'no-unbounded-writes (input, deny; on prod-db), reports-read-only (input, deny; always), review-deletes (input, require_approval; on staging-db), row-cap (output, deny; when rule eng allows it)',
      'reports/orders.runbook.sql':
        'no-unbounded-writes (input, deny; on prod-db), reports-read-only (input, deny; always), review-deletes (input, require_approval; on staging-db), row-cap (output, deny; when rule eng allows it)',
      // SQL guardrails say nothing about scripts; the box connection runs them.
      'sh/clean.runbook.sh': 'no-rm-rf (input, deny; always), row-cap (output, deny; when rule eng allows it)',
      'sh/ok.runbook.sh': 'no-rm-rf (input, deny; always), row-cap (output, deny; when rule eng allows it)',
    });
  });

  it('warns about a runbook an input guardrail refuses whatever its parameters, and only then', async () => {
    const { warnings } = await lintRepositoryGuardrails(config, 'demo', runbooks());
    expect(warnings).toEqual([
      {
        path: 'pg/purge.runbook.sql',
        line: 1,
        column: 1,
        message: 'warning: can never pass guardrail no-unbounded-writes (on prod-db): Name the rows (statement 1 (line 1): DELETE without a WHERE clause would change every row)',
      },
      {
        path: 'pg/purge.runbook.sql',
        line: 1,
        column: 1,
        message: 'warning: always needs an approval under guardrail review-deletes (on staging-db): statement 1 (line 1) is DELETE, which is forbidden (delete)',
      },
      expect.objectContaining({ path: 'pg/forget.runbook.sql', message: expect.stringMatching(/^warning: always needs an approval under guardrail review-deletes/) }),
      // It runs on MySQL too, where PostgreSQL's parser cannot read it; on PostgreSQL it passes.
      expect.objectContaining({
        path: 'reports/orders.runbook.sql',
        message: "warning: can never pass guardrail reports-read-only on MySQL connection(s) shop: SQL guardrails read PostgreSQL's grammar only",
      }),
      expect.objectContaining({ path: 'sh/clean.runbook.sh', message: 'warning: can never pass guardrail no-rm-rf (always): the word "rm -rf" is in the body' }),
    ]);
  });
});

describe('rungate policy explain', () => {
  const subject = { connection: 'prod-db', runbook: 'demo/pg/forget.runbook.sql', rule: 'eng' };

  it('shows what each input guardrail says about the rendered call', async () => {
    const explained = await explainCallGuardrails(config, { ...subject, runbook: 'demo/pg/purge.runbook.sql' }, { source: SOURCES['pg/purge.runbook.sql'] as string, params: { user_id: '3' } });
    expect(explained.denied).toBe(true);
    expect(explained.lines).toEqual([
      '  guardrails (2):',
      '    no-unbounded-writes — input, deny; attached by connections prod-*, box',
      '      denies this call: Name the rows (statement 1 (line 1): DELETE without a WHERE clause would change every row)',
      '    row-cap — output, deny; attached by rule eng',
      '      checked by the executor on the output, before it leaves',
      '  with these parameters the call is denied by guardrail no-unbounded-writes',
    ]);
    const passing = await explainCallGuardrails(config, subject, { source: SOURCES['pg/forget.runbook.sql'] as string, params: { user_id: '3' } });
    expect(passing).toMatchObject({ denied: false, lines: expect.arrayContaining(['      passes', '  with these parameters the call passes every input guardrail']) });
    const held = await explainCallGuardrails(config, { ...subject, connection: 'staging-db' }, { source: SOURCES['pg/forget.runbook.sql'] as string, params: { user_id: '3' } });
    expect(held).toMatchObject({ denied: false, lines: expect.arrayContaining(['  with these parameters the call waits for approval (guardrail review-deletes)']) });
    expect(held.approvals).toEqual([{ guardrail: 'review-deletes', approval: { groups: ['leads'], count: 1, ttl: 3_600_000 } }]);
    expect(passing.approvals).toEqual([]);
  });

  it('renders for the connection\'s dialect, and says a SQL guardrail refuses a MySQL call', async () => {
    const explained = await explainCallGuardrails(
      config,
      { connection: 'shop', runbook: 'demo/reports/orders.runbook.sql', rule: 'eng' },
      { source: SOURCES['reports/orders.runbook.sql'] as string, params: { id: '1' } },
    );
    expect(explained.denied).toBe(true);
    expect(explained.lines[2]).toMatch(/^ {6}denies this call: SQL guardrails read PostgreSQL's grammar/);
  });

  it('says why input guardrails were not checked: no runbook source, or a call that does not render', async () => {
    expect((await explainCallGuardrails(config, subject)).lines.at(-1)).toMatch(/^ {2}\(input guardrails check the rendered body/);
    const invalid = await explainCallGuardrails(config, subject, { source: SOURCES['pg/forget.runbook.sql'] as string, params: { user_id: 'x' } });
    expect(invalid.lines.at(-1)).toMatch(/^ {2}could not render the call, so input guardrails were not checked: user_id: /);
    expect((await explainCallGuardrails(config, { connection: 'staging-db', runbook: 'demo/x.runbook.sql' })).lines).toEqual([
      '  guardrails (1):',
      '    review-deletes — input, require_approval; attached by connections staging-db',
      '  (input guardrails check the rendered body: give the runbook file and its --param values to see what they say)',
    ]);
  });
});
