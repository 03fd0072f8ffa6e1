import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXPLAIN_EXIT, explainPolicy } from './policy';

const CONFIG = `
repositories: [{ name: demo, url: /srv/demo }]
connections:
  - { name: staging, type: postgres, url: env:STAGING }
  - { name: prod, type: postgres, url: env:PROD }
users:
  - { name: alice, groups: [eng] }
  - { name: lead, groups: [eng, sre-leads] }
  - { name: sam, groups: [sre-leads] }
rules:
  - { name: prod-writes, groups: [eng], connections: [prod], runbooks: ["demo/pg/**"], approval: { groups: [sre-leads], count: 1, ttl: 30m } }
  - { name: staging, groups: [eng], connections: [staging], runbooks: ["demo/pg/**"] }
  - { name: hotfix, groups: [eng], connections: [prod], runbooks: ["demo/hotfix/**"], approval: { groups: [sre-leads, eng], count: 2, allGroups: true, breakGlassGroups: [sre-leads] } }
  - { name: changes, groups: [eng], connections: [prod], runbooks: ["demo/change/**"], approval: { groups: [sre-leads], window: { days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00", timeZone: Europe/Berlin } } }
guardrails:
  - { name: deletes-need-a-lead, on: input, connections: [staging], match: { sql: { forbid: [delete] } }, action: require_approval, approval: { groups: [sre-leads], count: 2, ttl: 2h } }
`;

describe('rungate policy explain', () => {
  let dir: string;
  let config: string;
  let out: string[];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rg-explain-'));
    config = join(dir, 'rungate.yaml');
    writeFileSync(config, CONFIG);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => {
    out = [];
    jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
  });
  afterEach(() => jest.restoreAllMocks());

  const explain = (user: string, connection: string) =>
    explainPolicy({ user, group: [], runbook: 'demo/pg/update.runbook.sql', connection, param: [], config });

  it('answers approval_required for a rule with approval:, with who may approve and how many, never the requester', async () => {
    expect(await explain('lead', 'prod')).toBe(EXPLAIN_EXIT.approval_required);
    expect(out.join('').split('\n')).toEqual(
      expect.arrayContaining([
        'approval_required: rule prod-writes',
        '  needs 1 approval from sre-leads within 30m',
        '  approvers: sam; never the requester, never an agent token',
      ]),
    );
    expect(out.join('')).not.toMatch(/^allow/m);
  });

  it('says when the quorum needs each group, and who may break glass', async () => {
    const code = await explainPolicy({ user: 'alice', group: [], runbook: 'demo/hotfix/fix.runbook.sql', connection: 'prod', param: [], config });
    expect(code).toBe(EXPLAIN_EXIT.approval_required);
    expect(out.join('').split('\n')).toEqual(
      expect.arrayContaining([
        'approval_required: rule hotfix',
        '  needs 2 approvals from sre-leads, eng within 1h',
        '  allGroups: at least one approver from each of sre-leads, eng',
        '  break glass: one approver in sre-leads approves alone (marked breakGlass in the decision and audit.run.approved)',
      ]),
    );
  });

  it('prints the change window an approved run starts in, and when it opens', async () => {
    const code = await explainPolicy({ user: 'alice', group: [], runbook: 'demo/change/set.runbook.sql', connection: 'prod', param: [], config });
    expect(code).toBe(EXPLAIN_EXIT.approval_required);
    expect(out.join('')).toMatch(/^ {2}change window: mon, tue, wed, thu, fri 09:00–17:00 Europe\/Berlin — an approved run starts only inside it, (open now \(until|next opening) \d{4}-\d\d-\d\dT/m);
  });

  it('lists every approver for another requester', async () => {
    expect(await explain('alice', 'prod')).toBe(EXPLAIN_EXIT.approval_required);
    expect(out.join('')).toContain('  approvers: lead, sam; never the requester');
  });

  it('names the approvers of a require_approval guardrail that holds the rendered --file', async () => {
    const file = join(dir, 'purge.runbook.sql');
    writeFileSync(file, 'DELETE FROM users WHERE user_id = {{ .user_id | type "number" }};\n');
    const code = await explainPolicy({ user: 'alice', group: [], runbook: 'demo/pg/purge.runbook.sql', connection: 'staging', param: ['user_id=3'], file, config });
    expect(code).toBe(EXPLAIN_EXIT.approval_required);
    expect(out.join('')).not.toMatch(/^allow/m);
    expect(out.join('').split('\n')).toEqual(
      expect.arrayContaining([
        'approval_required: rule staging allows it; guardrail deletes-need-a-lead holds it',
        '  guardrail deletes-need-a-lead holds this call for approval:',
        '    needs 2 approvals from sre-leads within 2h',
        '    approvers: lead, sam; never the requester, never an agent token',
      ]),
    );
  });

  it('still answers allow and deny as before', async () => {
    expect(await explain('alice', 'staging')).toBe(EXPLAIN_EXIT.allow);
    expect(out.join('')).toMatch(/^allow: rule staging$/m);
    out.length = 0;
    expect(await explain('sam', 'staging')).toBe(EXPLAIN_EXIT.deny);
    expect(out.join('')).toMatch(/^deny: no rule allows sam/m);
  });
});
