import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CatalogGetReply, Subjects, ToolsReply } from '@rungate/contracts';
import { NatsBus, connectNats } from '@rungate/messaging';
import { createServiceContext, startService, type RunningService } from '@rungate/runtime';
import { createRunbookRepository, eventually, serviceArgs, startProcess, writeTicketKeys, type ServiceProcess } from '@rungate/testing';
import type { NatsConnection } from 'nats';
import { policyService } from './definition';

// Fewer runbooks with long descriptions keep the catalog well over 1 MiB while git-sync
// parses and publishes it quickly on a busy two-core machine.
const RUNBOOKS = 1500;
const HISTORY = ' Includes every line, refund, note and status change of the order since it was placed.'.repeat(8);

function runbook(i: number): string {
  return `-- @description Looks up order ${i} of a customer.${HISTORY}
-- @readonly
-- @tags orders, support, team-${i % 50}
SELECT * FROM orders WHERE order_id = {{ .order_id | type "number" | description "the order to look up" }} AND customer = '{{ .customer | pattern "^[a-z0-9-]+$" | description "the customer's handle" }}';
`;
}

/**
 * A catalog far larger than one NATS message (the default max_payload is 1 MiB): git-sync
 * answers in pages and policy reads every page of one commit. Before paging, this catalog
 * could not be served at all.
 */
describe('a catalog larger than a NATS message', () => {
  let dir: string;
  let gitSync: ServiceProcess;
  let policy: RunningService;
  let nc: NatsConnection;
  let bus: NatsBus;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rg-big-catalog-'));
    const files = Object.fromEntries(Array.from({ length: RUNBOOKS }, (_, i) => [`orders/team_${i % 50}/lookup_${i}.runbook.sql`, runbook(i)]));
    const repo = createRunbookRepository(files);
    const configFile = join(dir, 'rungate.yaml');
    writeFileSync(
      configFile,
      `
repositories: [{ name: big, url: ${repo.dir}, pollInterval: 1h }]
connections: [{ name: orders-db, type: postgres, url: env:NEVER_USED }]
users: [{ name: pat@example.com, groups: [support] }]
rules: [{ name: support, groups: [support], connections: [orders-db], runbooks: ["big/**"] }]
gitSync: { cacheDir: ${join(dir, 'cache')}, port: 0 }
${writeTicketKeys(dir)}
`,
    );
    gitSync = startProcess('git-sync', process.execPath, serviceArgs('git-sync'), { ...process.env, RUNGATE_CONFIG: configFile, LOG_LEVEL: 'warn' });
    nc = await connectNats({ name: 'big-catalog-test' });
    bus = new NatsBus(nc);
    policy = await startService(policyService, await createServiceContext('policy', configFile));
  });

  afterAll(async () => {
    await policy?.close();
    await gitSync?.stop();
    await nc?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is served in pages, each under max_payload, that add up to the whole catalog', async () => {
    const first = await eventually(() => bus.request(Subjects.catalogGet, {}, CatalogGetReply, { timeoutMs: 30_000 }), 150_000).catch((error: Error) => {
      throw new Error(`${error.message}\n${gitSync.output()}`);
    });
    const [head] = first.catalogs;
    expect(head?.nextOffset).toBeGreaterThan(0);
    const pages = [head];
    let next = head?.nextOffset;
    while (next !== undefined) {
      const reply = await bus.request(Subjects.catalogGet, { repository: 'big', commit: head?.commit, offset: next }, CatalogGetReply, { timeoutMs: 30_000 });
      expect(Buffer.byteLength(JSON.stringify(reply))).toBeLessThan(nc.info?.max_payload ?? 1024 * 1024);
      expect(reply.catalogs[0]?.commit).toBe(head?.commit);
      pages.push(reply.catalogs[0]);
      next = reply.catalogs[0]?.nextOffset;
    }
    const tools = pages.flatMap((page) => page?.runbooks.map((r) => r.tool) ?? []);
    expect(tools).toHaveLength(RUNBOOKS);
    expect(new Set(tools).size).toBe(RUNBOOKS);
    expect(Buffer.byteLength(JSON.stringify(pages))).toBeGreaterThan(nc.info?.max_payload ?? 1024 * 1024);
  }, 180_000);

  it('is read whole by policy, and tools/list comes in pages that follow nextCursor', async () => {
    const identity = { user: 'pat@example.com', groups: ['support'], scope: {} };
    const first = await eventually(async () => {
      const page = await bus.request(Subjects.policyTools, { identity }, ToolsReply, { timeoutMs: 30_000 });
      if (page.tools.length === 0) throw new Error('policy has not loaded the catalog yet');
      return page;
    }, 150_000);
    const names = first.tools.map((t) => t.name);
    let cursor = first.nextCursor;
    expect(cursor).toBeDefined();
    while (cursor !== undefined) {
      const page = await bus.request(Subjects.policyTools, { identity, cursor }, ToolsReply, { timeoutMs: 30_000 });
      expect(Buffer.byteLength(JSON.stringify(page))).toBeLessThan(nc.info?.max_payload ?? 1024 * 1024);
      names.push(...page.tools.map((t) => t.name));
      cursor = page.nextCursor;
    }
    expect(names).toHaveLength(RUNBOOKS);
    expect(new Set(names).size).toBe(RUNBOOKS);
    expect(names).toContain(`big.orders.team_7.lookup_${RUNBOOKS - 43}`);
  }, 180_000);

  it('refuses a cursor it did not make', async () => {
    const identity = { user: 'pat@example.com', groups: ['support'], scope: {} };
    await expect(bus.request(Subjects.policyTools, { identity, cursor: 'not-a-cursor' }, ToolsReply, { timeoutMs: 30_000 })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringContaining('invalid cursor'),
    });
  });
});
