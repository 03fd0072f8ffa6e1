import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { createRunbookRepository, createTestDatabase, eventually, type TestDatabase } from '@rungate/testing';
import { Client as PgClient } from 'pg';
import { READ_ONE_RUNBOOK, TRANSPORTS, catalogClient, newToken, startStack, type Stack } from './support/stack';

/** What a slow client saw before the server hung up on it. */
interface Dribbled {
  response: string;
  /** Bytes it had managed to send. */
  sent: number;
}

/**
 * A client that sends `head` and then one byte of `trickle` every 100 ms, for as long as the
 * server keeps the connection: it never finishes on its own (the trickle repeats), so the test
 * ends only when the server cuts it off. No timing is asserted, only that it was cut off.
 */
function dribble(url: string, head: string, trickle: string): Promise<Dribbled> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(Number(port), hostname);
    let response = '';
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    socket.on('connect', () => {
      socket.write(head);
      sent += head.length;
      timer = setInterval(() => {
        if (socket.writable) socket.write(trickle[sent++ % trickle.length] as string);
      }, 100);
    });
    socket.on('data', (chunk) => (response += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ response, sent });
    });
    // Far beyond the limits under test (1 s, 2 s), far below Node's own (60 s, 300 s). A plain
    // timer: the socket is never idle (it writes every 100 ms), so an idle timeout never fires.
    const patience = setTimeout(() => {
      clearInterval(timer);
      socket.destroy();
      reject(new Error(`the server kept a dribbling client for 30 s; it answered ${JSON.stringify(response)}`));
    }, 30_000);
    socket.on('close', () => clearTimeout(patience));
  });
}

/**
 * Issue 15, limits at the edge: every Rungate HTTP listener answers a client that dribbles
 * its headers or its body 408 and closes the connection (gateway.headersTimeout,
 * gateway.requestTimeout), a body over gateway.maxBodyBytes 413, and stays healthy for
 * everyone else. Real sockets against the gateway and the audit query API, both ways of running.
 */
describe.each(TRANSPORTS)('limits at the edge over %s', (transport) => {
  const TAG = randomBytes(3).toString('hex');
  const ALICE = `alice-${TAG}@example.com`;
  const alice = newToken();
  let auditDb: TestDatabase;
  let stack: Stack;
  let audit: PgClient;

  beforeAll(async () => {
    auditDb = await createTestDatabase('rge2e_edge_limits');
    const repo = createRunbookRepository({ 'postgres/get.runbook.sql': READ_ONE_RUNBOOK });
    stack = await startStack({
      transport,
      env: { DATABASE_URL: auditDb.url, APP_DB_URL: auditDb.url },
      gateway: { headersTimeout: '1s', requestTimeout: '2s', maxBodyBytes: 2048 },
      config: () => `
repositories: [{ name: lim, url: ${repo.dir} }]
connections: [{ name: app-db, type: postgres, url: env:APP_DB_URL }]
users: [{ name: ${ALICE}, groups: [engineering] }]
tokens: [{ sha256: "${alice.sha256}", user: ${ALICE}, agent: claude-code }]
rules: [{ name: eng, groups: [engineering], connections: [app-db], runbooks: ["lim/**"] }]
`,
    });
    audit = new PgClient({ connectionString: auditDb.url });
    await audit.connect();
  });

  afterAll(async () => {
    await stack?.stop();
    await audit?.end();
    await auditDb?.drop();
  });

  async function stillServes(): Promise<void> {
    expect((await fetch(`${stack.gatewayUrl}/readyz`)).status).toBe(200);
    const client = await catalogClient(stack, alice.token);
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['lim.postgres.get']);
    } finally {
      await client.close();
    }
  }

  it('answers a client that never finishes its headers 408 and hangs up', async () => {
    const slow = await dribble(stack.gatewayUrl, 'POST /mcp HTTP/1.1\r\nHost: rungate\r\nX-Slow: ', 'aaaaaaaaaaaaaaaa');
    expect(slow.response).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    await stillServes();
  });

  it('answers an authenticated client that never finishes its body 408, hangs up, and records the attempt', async () => {
    const head = [
      'POST /mcp HTTP/1.1',
      'Host: rungate',
      `Authorization: Bearer ${alice.token}`,
      'Content-Type: application/json',
      'Accept: application/json, text/event-stream',
      `User-Agent: slow-body-${TAG}`,
      'Content-Length: 2000',
      '',
      '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"',
    ].join('\r\n');
    const slow = await dribble(stack.gatewayUrl, head, 'aaaaaaaaaaaaaaaa');
    expect(slow.response).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    const [row] = await eventually(async () => {
      const { rows } = await audit.query(`SELECT error_code, actor_user, event FROM audit_events WHERE type = 'audit.attempt.denied' AND event->'actor'->>'userAgent' = $1`, [`slow-body-${TAG}`]);
      if (rows.length === 0) throw new Error('not stored yet');
      return rows as { error_code: string; actor_user: string }[];
    });
    expect(row).toMatchObject({ error_code: 'malformed-request', actor_user: ALICE });
    await stillServes();
  });

  it('answers a body over gateway.maxBodyBytes 413 and closes the connection rather than read it', async () => {
    const res = await fetch(`${stack.gatewayUrl}/mcp`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${alice.token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { pad: 'x'.repeat(4096) } }),
    });
    expect(res.status).toBe(413);
    expect(res.headers.get('connection')).toBe('close');
    await stillServes();
  });

  it('cuts off a slow client of the audit query API the same way', async () => {
    const slow = await dribble(stack.auditApiUrl, 'GET /audit/events HTTP/1.1\r\nHost: rungate\r\nX-Slow: ', 'aaaaaaaaaaaaaaaa');
    expect(slow.response).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect((await fetch(`${stack.auditApiUrl}/audit/events`)).status).toBe(401);
  });
});
