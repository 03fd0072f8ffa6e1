import type { ConnectionConfig } from '@rungate/config';
import type { RunbookEntry } from '@rungate/contracts';
import { parseRunbook, toolName } from '@rungate/runbooks';
import { toolDefinition } from './tools';

function entry(path: string, source: string): RunbookEntry {
  const result = parseRunbook(path, source);
  if (!result.ok) throw new Error(JSON.stringify(result.findings));
  const { runbook } = result;
  return { repository: 'ops', path, tool: toolName('ops', path), language: runbook.language, sha256: runbook.sha256, metadata: runbook.metadata, parameters: [...runbook.parameters] };
}

const one = [{ name: 'c', type: 'postgres' }] as unknown as ConnectionConfig[];

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
