import { ApprovalRun } from '@rungate/contracts';
import { approvalPage, approvalsPage } from './approvals-page';

const HOSTILE = `<script>alert("x")</script>`;
const ESCAPED = '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;';
const approver = { user: 'lead@rungate.local', csrf: 'csrf-token' };

/** A held run as policy answers it (parsed by the contract, so the fixture is one policy could send). */
function run(overrides: Partial<ApprovalRun> = {}): ApprovalRun {
  return ApprovalRun.parse({
    runId: 'run_01',
    state: 'pending',
    tool: 'demo.postgres.set_order_status',
    rule: 'engineering-demo-db',
    runbook: { repository: 'demo', path: 'postgres/set_order_status.runbook.sql', commit: 'a'.repeat(40), sha256: 'b'.repeat(64) },
    connection: { name: 'demo-db', type: 'postgres' },
    body: `UPDATE orders SET status = 'shipped' WHERE note = '${HOSTILE}';`,
    bodySha256: 'c'.repeat(64),
    params: { order_id: '7', note: HOSTILE },
    requester: { user: 'demo@rungate.local', agent: 'demo-agent' },
    approval: { groups: ['leads'], count: 2, approved: 1 },
    holds: [{ by: 'rule', name: 'engineering-demo-db' }, { by: 'guardrail', name: 'prod-writes', reason: HOSTILE }],
    decisions: [{ actor: { user: 'ann@rungate.local' }, verdict: 'approved', comment: HOSTILE, at: '2026-12-07T11:00:00.000Z' }],
    createdAt: '2026-12-07T10:59:00.000Z',
    expiresAt: '2026-12-07T11:59:00.000Z',
    ...overrides,
  });
}

describe('approvals pages', () => {
  it('shows exactly what would run, escaping every value policy sent: body, parameters, reasons, comments', () => {
    const page = approvalPage(run(), approver).text;
    expect(page).not.toContain(HOSTILE);
    expect(page).toContain(`<pre>UPDATE orders SET status = &#39;shipped&#39; WHERE note = &#39;${ESCAPED}&#39;;</pre>`);
    expect(page).toContain(`<td><code>note</code></td><td><code>${ESCAPED}</code></td>`);
    expect(page).toContain(`guardrail <code>prod-writes</code> — ${ESCAPED}`);
    expect(page).toContain(`<strong>ann@rungate.local</strong> approved — ${ESCAPED}`);
    expect(page).toContain(`<code>demo/postgres/set_order_status.runbook.sql</code> at commit <code>${'a'.repeat(40)}</code>`);
    expect(page).toContain('demo-db <span class="muted">(postgres)</span>');
    expect(page).toContain('demo@rungate.local <span class="muted">via demo-agent</span>');
    expect(page).toContain('1 of 2, from leads');
    expect(page).toContain('2026-12-07T11:59:00.000Z');
  });

  it('offers an approver both decisions, each form with the session\'s CSRF token, a reject only with a reason', () => {
    const page = approvalPage(run(), approver).text;
    const forms = page.match(/<form [^>]*>[\s\S]*?<\/form>/g) ?? [];
    expect(forms.map((form) => /action="([^"]+)"/.exec(form)?.[1])).toEqual(['/console/approvals/run_01/approve', '/console/approvals/run_01/reject']);
    for (const form of forms) expect(form).toContain('<input type="hidden" name="_csrf" value="csrf-token">');
    expect(forms[0]).toMatch(/<textarea name="comment" rows="2" maxlength="1000">/);
    expect(forms[1]).toMatch(/<textarea name="reason" rows="2" required maxlength="1000">/);
  });

  it('offers the requester no decision on their own run, and nobody one on a run that is no longer pending', () => {
    const own = approvalPage(run(), { user: 'demo@rungate.local', csrf: 'x' }).text;
    expect(own).not.toContain('<form');
    expect(own).toContain('This is your own run: it waits for 1 more approval from leads; you cannot approve it.');
    for (const state of ['approved', 'executing', 'executed', 'failed', 'rejected', 'expired'] as const) {
      expect(approvalPage(run({ state }), approver).text).not.toContain('<form');
    }
  });

  it('keeps asking while the run moves on by itself, and stops once it has ended', () => {
    for (const state of ['approved', 'executing'] as const) {
      expect(approvalPage(run({ state }), approver).text).toContain('<section id="approval" aria-label="Held run"><div hidden hx-get="/console/approvals/run_01" hx-trigger="every 2s" hx-target="#approval" hx-select="#approval" hx-swap="outerHTML"></div>');
    }
    for (const state of ['pending', 'executed', 'failed', 'rejected', 'expired'] as const) expect(approvalPage(run({ state }), approver).text).not.toContain('hx-get');
    const executed = approvalPage(run({ state: 'executed', outcome: { status: 'succeeded', result: { rows: [{ note: HOSTILE }] } } }), approver).text;
    expect(executed).toContain('<strong class="state">executed</strong>');
    expect(executed).toContain('<dt>Outcome</dt><dd>succeeded</dd>');
    expect(executed).toContain(`&quot;note&quot;: &quot;${ESCAPED.replace(/&quot;/g, '\\&quot;')}&quot;`);
    const failed = approvalPage(run({ state: 'failed', outcome: { status: 'failed', errorCode: 'CONNECTION_UNKNOWN', error: 'connection demo-db was removed after approval' } }), approver).text;
    expect(failed).toContain('failed · CONNECTION_UNKNOWN<br><span class="muted">connection demo-db was removed after approval</span>');
  });

  it('lists the pending queue with links to each run, escaped; says when nothing waits, or why policy refused', () => {
    const queue = approvalsPage({ runs: [run({ runId: 'run_a' }), run({ runId: 'run_b', requester: { user: HOSTILE } })] }).text;
    expect(queue).toContain('2 runs waiting for your approval, oldest first');
    expect(queue.match(/<a href="\/console\/approvals\/run_[ab]">/g)).toEqual(['<a href="/console/approvals/run_a">', '<a href="/console/approvals/run_b">']);
    expect(queue).toContain(`<td>${ESCAPED}</td>`);
    expect(queue).not.toContain(HOSTILE);
    expect(queue).toContain('hx-get="/console/approvals" hx-trigger="every 5s" hx-target="#results"');
    expect(approvalsPage({ runs: [] }).text).toContain('Nothing waits for your approval.');
    expect(approvalsPage({ refused: `policy ${HOSTILE}` }).text).toContain(`<p class="notice bad" role="alert">policy ${ESCAPED}</p>`);
  });
});
