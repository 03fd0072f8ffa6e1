/** Times each hop of one call on a running stack: where do the milliseconds go? */
import { AuthenticateReply, AuthorizeReply, BearerAuthorizeReply, ExecResult, Subjects, ToolsReply, execSubject } from '@rungate/contracts';
import { NatsBus, connectNats, JetStreamAuditSink } from '@rungate/messaging';
import { createRunbookRepository, createTestDatabase, eventually } from '@rungate/testing';
import { Pool } from 'pg';
import { mcpClient, newToken, startStack } from '../test/support/stack';
import { fmt, stats, timeAsync } from './support';

async function main(): Promise<void> {
  const target = await createTestDatabase('rghops');
  const auditDb = await createTestDatabase('rghops_a');
  const setup = new Pool({ connectionString: target.url });
  await setup.query('CREATE TABLE users (user_id int PRIMARY KEY, email text); INSERT INTO users VALUES (1, \'a@b.c\')');
  const repo = createRunbookRepository({ 'pg/get.runbook.sql': '-- @readonly\nSELECT * FROM users WHERE user_id = {{ .id | type "number" }};\n' });
  const t = newToken();
  const stack = await startStack({
    env: { H_DB: target.url, DATABASE_URL: auditDb.url, LOG_LEVEL: 'warn' },
    config: () => `
repositories: [{ name: demo, url: ${repo.dir} }]
connections: [{ name: db, type: postgres, url: env:H_DB }]
users: [{ name: u, groups: [g] }]
tokens: [{ sha256: "${t.sha256}", user: u, agent: a }]
rules: [{ name: r, groups: [g], connections: [db], runbooks: ["demo/**"] }]
`,
  });
  try {
    const nc = await connectNats({ name: 'hops' });
    const bus = new NatsBus(nc);
    const sink = new JetStreamAuditSink(nc);
    const client = await eventually(async () => {
      const c = await mcpClient(stack.gatewayUrl, t.token);
      if ((await c.listTools()).tools.length === 0) throw new Error('not yet');
      return c;
    });
    const show = (name: string, s: number[]) => console.log(`${name.padEnd(24)} p50 ${fmt(stats(s).p50)}  p99 ${fmt(stats(s).p99)}`);
    const { identity } = await bus.request(Subjects.policyAuthenticate, { bearer: t.token }, AuthenticateReply, { timeoutMs: 5000 });
    show('jetstream publish+ack', await timeAsync(() => sink.publish({ type: 'audit.run.received', source: 'hops' }), 500));
    show('authenticate', await timeAsync(() => bus.request(Subjects.policyAuthenticate, { bearer: t.token }, AuthenticateReply, { timeoutMs: 5000 }), 500));
    show('tools', await timeAsync(() => bus.request(Subjects.policyTools, { identity }, ToolsReply, { timeoutMs: 5000 }), 300));
    show('authorize', await timeAsync(() => bus.request(Subjects.policyAuthorize, { identity, tool: 'demo.pg.get', arguments: { id: 1 } }, AuthorizeReply, { timeoutMs: 5000 }), 300));
    // What a tools/call asks policy (ADR 24): authenticate and authorize in one request.
    show('authorize.v2 (bearer)', await timeAsync(() => bus.request(Subjects.policyAuthorizeBearer, { bearer: t.token, tool: 'demo.pg.get', arguments: { id: 1 } }, BearerAuthorizeReply, { timeoutMs: 5000 }), 300));
    const grants: { ticket: string; body: string }[] = [];
    for (let i = 0; i < 700; i++) {
      const g = await bus.request(Subjects.policyAuthorize, { identity, tool: 'demo.pg.get', arguments: { id: 1 } }, AuthorizeReply, { timeoutMs: 5000 });
      if (g.effect === 'allow') grants.push({ ticket: g.ticket, body: g.body });
    }
    let k = 0;
    show('exec', await timeAsync(() => bus.request(execSubject('postgres'), grants[k++], ExecResult, { timeoutMs: 5000 }), 300, 100));
    // As the gateway asks: with heartbeats while the run is in flight.
    show('exec with heartbeats', await timeAsync(() => bus.request(execSubject('postgres'), grants[k++], ExecResult, { timeoutMs: 5000, heartbeatMs: 1000 }), 300, 0));
    show('mcp tools/call', await timeAsync(() => client.callTool({ name: 'demo.pg.get', arguments: { id: 1 } }), 300));
    await client.close();
    await nc.close();
  } finally {
    await stack.stop();
    await setup.end();
    await target.drop();
    await auditDb.drop();
  }
}
void main();
