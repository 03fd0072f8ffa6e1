import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import type { ConnectionConfig, RuleConfig } from '@rungate/config';
import type { RunbookEntry } from '@rungate/contracts';
import { parseRunbook, toolName } from '@rungate/runbooks';
import { RUN_STATUS_TOOL } from '@rungate/contracts';
import { catalogView, guardrailsHold, listTools, mayFollowHeldRuns, toolDefinition } from './tools';

function entry(path: string, source: string): RunbookEntry {
  const result = parseRunbook(path, source);
  if (!result.ok) throw new Error(JSON.stringify(result.findings));
  const { runbook } = result;
  return { repository: 'ops', path, tool: toolName('ops', path), language: runbook.language, sha256: runbook.sha256, metadata: runbook.metadata, parameters: [...runbook.parameters] };
}

const one = [{ name: 'c', type: 'postgres' }] as unknown as ConnectionConfig[];
const connections = [
  { name: 'prod', type: 'postgres' },
  { name: 'staging', type: 'postgres' },
] as unknown as ConnectionConfig[];

describe('tool definitions', () => {
  it('offer dryRun where the target can honour it: SQL (rolled back) and Kubernetes manifests (dryRun=All), not scripts', () => {
    const sql = toolDefinition(entry('db/x.runbook.sql', 'DELETE FROM t;\n'), one);
    const manifest = toolDefinition(entry('k8s/web.runbook.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n'), one);
    const script = toolDefinition(entry('sh/x.runbook.sh', 'echo hi\n'), one);
    const props = (t: ReturnType<typeof toolDefinition>) => (t.inputSchema as { properties: Record<string, { description?: string }> }).properties;
    expect(props(sql)['dryRun']?.description).toMatch(/roll back/);
    expect(props(manifest)['dryRun']?.description).toMatch(/dryRun=All/);
    expect(props(script)).not.toHaveProperty('dryRun');
  });
});

describe('the console catalog view', () => {
  const rules = [
    { name: 'prod-approved', groups: ['eng'], connections: ['prod'], runbooks: ['ops/db/**'], approval: { groups: ['leads'], count: 1, ttl: 3_600_000 } },
    { name: 'staging-free', groups: ['eng'], connections: ['staging'], runbooks: ['ops/**'] },
  ] as unknown as RuleConfig[];
  const entries = [entry('db/x.runbook.sql', 'SELECT 1;\n'), entry('other/y.runbook.sql', 'SELECT 2;\n')];
  const eng = { user: 'ada', groups: ['eng'], scope: {} };

  it('lists what tools/list lists, each connection with the rule that grants it', () => {
    const view = catalogView(eng, entries, connections, rules);
    expect(view.map((v) => v.tool)).toEqual(listTools(eng, entries, connections, rules).map((t) => t.name).filter((name) => view.some((v) => v.tool === name)));
    expect(view).toEqual([
      { tool: 'ops.db.x', repository: 'ops', path: 'db/x.runbook.sql', grants: [{ connection: 'prod', rule: 'prod-approved', approval: true }, { connection: 'staging', rule: 'staging-free', approval: false }] },
      { tool: 'ops.other.y', repository: 'ops', path: 'other/y.runbook.sql', grants: [{ connection: 'staging', rule: 'staging-free', approval: false }] },
    ]);
  });

  it('shows nothing to someone no rule names, and respects a token narrowed to connections', () => {
    expect(catalogView({ user: 'eve', groups: ['sales'], scope: {} }, entries, connections, rules)).toEqual([]);
    expect(catalogView({ ...eng, scope: { connections: ['staging'] } }, entries, connections, rules).flatMap((v) => v.grants.map((g) => g.connection))).toEqual(['staging', 'staging']);
  });
});

describe('rungate_run_status', () => {
  const rules = [
    { name: 'prod-approved', groups: ['eng'], connections: ['prod'], runbooks: ['ops/db/**'], approval: { groups: ['leads'], count: 1, ttl: 3_600_000 } },
    { name: 'staging-free', groups: ['ops'], connections: ['staging'], runbooks: ['ops/**'] },
  ] as unknown as RuleConfig[];
  const entries = [entry('db/x.runbook.sql', 'SELECT 1;\n')];
  const eng = { user: 'ada', groups: ['eng'], scope: {} };
  const ops = { user: 'oz', groups: ['ops'], scope: {} };
  const names = (tools: ReturnType<typeof listTools>) => tools.map((t) => t.name);

  it('is listed, and callable, exactly for whoever can call a tool that may be held', () => {
    expect(names(listTools(eng, entries, connections, rules))).toEqual(['ops.db.x', RUN_STATUS_TOOL]);
    expect(names(listTools(ops, entries, connections, rules))).toEqual(['ops.db.x']);
    expect(mayFollowHeldRuns(eng, entries, connections, rules, false)).toBe(true);
    expect(mayFollowHeldRuns(ops, entries, connections, rules, false)).toBe(false);
    // A require_approval guardrail may hold any run: everyone who can call a tool can follow one.
    expect(names(listTools(ops, entries, connections, rules, true))).toEqual(['ops.db.x', RUN_STATUS_TOOL]);
    expect(mayFollowHeldRuns({ user: 'nobody', groups: [], scope: {} }, entries, connections, rules, true)).toBe(false);
  });

  it('counts only input guardrails that require an approval', () => {
    expect(guardrailsHold([{ on: 'input', action: 'require_approval' }])).toBe(true);
    expect(guardrailsHold([{ on: 'input', action: 'deny' }, { on: 'output', action: 'deny' }])).toBe(false);
  });

  it('lets a held runbook answer approval_required under its outputSchema', () => {
    const schema = toolDefinition(entries[0] as RunbookEntry, connections).outputSchema as { anyOf: { properties?: { status?: unknown } }[] };
    expect(schema.anyOf.map((s) => s.properties?.status)).toContainEqual({ type: 'string', const: 'approval_required' });
  });

  it("admits a held result naming allGroups and break-glass groups, as MCP clients check it", () => {
    const validate = new AjvJsonSchemaValidator().getValidator(toolDefinition(entries[0] as RunbookEntry, connections).outputSchema as never);
    const held = { status: 'approval_required', runId: 'r', expiresAt: '2026-12-07T13:00:00.000Z' };
    expect(validate({ ...held, approvers: { groups: ['sre-leads', 'dba'], count: 2, allGroups: true, breakGlassGroups: ['oncall'] } }).valid).toBe(true);
    expect(validate({ ...held, approvers: { groups: ['sre-leads'], count: 1 } }).valid).toBe(true);
    expect(validate({ ...held, approvers: { groups: ['sre-leads'], count: 1, breakGlassGroups: 'oncall' } }).valid).toBe(false);
  });
});
