import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { createRunbookRepository, createTestDatabase, type TestDatabase } from '@rungate/testing';
import fc from 'fast-check';
import { catalogClient, mcpClient, newToken, READ_ONE_RUNBOOK, startStack, type CallResult, type Stack } from '../support/stack';
import { recordFigures, size } from './figures';

const BODIES = size('RELIABILITY_FUZZ_BODIES', 300, 3000);
const SESSIONS = size('RELIABILITY_FUZZ_SESSIONS', 100, 1000);
const SLOW_CLIENTS = size('RELIABILITY_FUZZ_SLOW_CLIENTS', 20, 100);
/** Well above what a gateway needs; a leak of the fuzzed bodies or sessions would pass it. */
const RSS_BOUND_MB = 768;

/** The JSON-RPC 2.0 codes: the five the spec defines, and the implementation-defined server errors. */
const SPEC_CODES = new Set([-32700, -32600, -32601, -32602]);
const isSpecCode = (code: unknown) => typeof code === 'number' && (SPEC_CODES.has(code) || (code <= -32000 && code >= -32099));

function rssMb(pid: number): number {
  const line = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(line?.[1] ?? 0) / 1024);
}

/** Bodies that are not the JSON-RPC a client should send: bytes, broken JSON, wrong shapes, wrong types in the right shape. */
const id = fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.constant(null), fc.double(), fc.boolean(), fc.object({ maxDepth: 1 }), fc.constant(undefined));
const method = fc.oneof(fc.constantFrom('initialize', 'ping', 'tools/list', 'tools/call', 'notifications/initialized', 'notifications/cancelled', 'resources/list', 'rpc.discover', ''), fc.string({ maxLength: 12 }));
const envelope = fc.record(
  { jsonrpc: fc.oneof(fc.constant('2.0'), fc.constantFrom('1.0', '2', 2, null)), id, method: fc.oneof(method, fc.integer()), params: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.record({ name: fc.oneof(fc.constant('fuzz.pg.read_one'), fc.string()), arguments: fc.jsonValue({ maxDepth: 2 }), _meta: fc.jsonValue({ maxDepth: 2 }) })), result: fc.jsonValue({ maxDepth: 1 }), error: fc.jsonValue({ maxDepth: 1 }) },
  { requiredKeys: [] },
);
const malformed: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 3, arbitrary: envelope.map((e) => Buffer.from(JSON.stringify(e))) },
  { weight: 1, arbitrary: fc.array(envelope, { maxLength: 4 }).map((batch) => Buffer.from(JSON.stringify(batch))) },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
  { weight: 1, arbitrary: fc.tuple(envelope, fc.nat()).map(([e, cut]) => { const text = JSON.stringify(e); return Buffer.from(text.slice(0, cut % (text.length + 1))); }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)) },
  { weight: 1, arbitrary: fc.constantFrom('', '{', '}', '[]', '[{}]', 'null', '"x"', '{"jsonrpc":"2.0","id":1,"method":"ping"', '\ufeff{"jsonrpc":"2.0","id":1,"method":"ping"}', '{"jsonrpc":"2.0","id":1,"method":"ping"}{"jsonrpc":"2.0"}').map((t) => Buffer.from(t)) },
  { weight: 1, arbitrary: fc.constant(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])) },
);

/**
 * Issue 20, MCP/JSON-RPC fuzz against a running gateway (a process per service over NATS):
 * malformed framing and bodies, a huge and a deep body, slow clients, and SESSIONS MCP SDK
 * sessions at once. Every answer is HTTP the gateway means and, where it is JSON-RPC, a spec
 * error code; every process stays up; the gateway's resident memory stays bounded.
 */
describe(`MCP fuzz: ${BODIES} malformed bodies, huge and deep bodies, ${SLOW_CLIENTS} slow clients, ${SESSIONS} concurrent sessions`, () => {
  let auditDb: TestDatabase;
  let stack: Stack;
  let client: Client;
  const alice = newToken();
  const figures = { requests: 0, jsonRpcErrors: {} as Record<string, number>, httpStatuses: {} as Record<string, number>, sessions: 0, connectionResets: 0, slowClients: 0, rssBaselineMb: 0, rssPeakMb: 0, rssAfterMb: 0 };
  let gatewayPid = 0;
  let sampler: NodeJS.Timeout | undefined;

  const post = (body: Buffer | string, headers: Record<string, string> = {}) =>
    fetch(`${stack.gatewayUrl}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', Authorization: `Bearer ${alice.token}`, ...headers },
      body,
    });

  /** The answer to a request that is not valid MCP: an HTTP refusal, or a JSON-RPC error with a spec code. Never a 5xx. */
  async function expectSpecAnswer(res: Response): Promise<void> {
    figures.requests++;
    figures.httpStatuses[res.status] = (figures.httpStatuses[res.status] ?? 0) + 1;
    const text = await res.text();
    expect(res.status).toBeLessThan(500);
    if (res.status === 202 || text === '') return;
    let payload: unknown;
    try {
      payload = JSON.parse(text.startsWith('event:') || text.startsWith('data:') ? (/^data: (.*)$/m.exec(text)?.[1] ?? '') : text);
    } catch {
      throw new Error(`HTTP ${res.status} answered with a body that is not JSON: ${text.slice(0, 200)}`);
    }
    for (const message of Array.isArray(payload) ? payload : [payload]) {
      const error = (message as { error?: { code?: unknown } }).error;
      if (!error) continue;
      figures.jsonRpcErrors[String(error.code)] = (figures.jsonRpcErrors[String(error.code)] ?? 0) + 1;
      expect({ code: error.code, spec: isSpecCode(error.code) }).toEqual({ code: error.code, spec: true });
    }
  }

  beforeAll(async () => {
    auditDb = await createTestDatabase('rgfuzz_audit');
    const repo = createRunbookRepository({ 'pg/read_one.runbook.sql': READ_ONE_RUNBOOK });
    stack = await startStack({
      env: { DATABASE_URL: auditDb.url, FUZZ_DB_URL: auditDb.url },
      // Headers within 20 s, the whole request within 30 s: the slow clients are cut off while a
      // loaded machine's real ones, whose requests wait for a starved event loop, are not.
      gateway: { headersTimeout: '20s', requestTimeout: '30s' },
      readyTimeoutMs: 120_000,
      config: () => `
repositories: [{ name: fuzz, url: ${repo.dir} }]
connections: [{ name: app-db, type: postgres, url: env:FUZZ_DB_URL }]
users: [{ name: alice@example.com, groups: [engineering] }]
tokens: [{ sha256: "${alice.sha256}", user: alice@example.com, agent: fuzzer }]
rules: [{ name: engineering, groups: [engineering], connections: [app-db], runbooks: ["fuzz/**"] }]
`,
    });
    client = await catalogClient(stack, alice.token);
    gatewayPid = stack.processes.find((p) => p.name === 'gateway')?.child.pid as number;
    figures.rssBaselineMb = rssMb(gatewayPid);
    sampler = setInterval(() => (figures.rssPeakMb = Math.max(figures.rssPeakMb, rssMb(gatewayPid))), 100);
  }, 180_000);

  afterAll(async () => {
    clearInterval(sampler);
    recordFigures('mcp-fuzz', figures);
    await client?.close();
    await stack?.stop();
    await auditDb?.drop();
  });

  afterEach(() => {
    // Every process stays up, whatever it was sent.
    for (const p of stack.processes) expect({ service: p.name, exitCode: p.child.exitCode, signal: p.child.signalCode }).toEqual({ service: p.name, exitCode: null, signal: null });
  });

  it('answers arbitrary malformed bodies with spec error codes, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(malformed, fc.constantFrom('application/json', 'text/plain', 'application/json; charset=latin1'), async (body, type) => {
        await expectSpecAnswer(await post(body, { 'content-type': type }));
      }),
      { numRuns: BODIES },
    );
  });

  it('answers a body over the limit 413, and one nested a quarter of a million levels deep with a spec error', async () => {
    const huge = await post(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"fuzz.pg.read_one","arguments":{"id":"${'9'.repeat(2 * 1024 * 1024)}"}}}`);
    figures.requests++;
    expect(huge.status).toBe(413);
    const deep = (depth: number) => `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"fuzz.pg.read_one","arguments":{"id":${'['.repeat(depth)}${']'.repeat(depth)}}}}`;
    for (const depth of [1_000, 100_000, 250_000]) await expectSpecAnswer(await post(deep(depth)));
    // Just under the limit, one huge string: refused by the parameter's type, not by the edge.
    const big = (await client.callTool({ name: 'fuzz.pg.read_one', arguments: { id: '7'.repeat(900 * 1024) } })) as CallResult;
    figures.requests++;
    expect(big.isError).toBe(true);
  });

  it(`serves ${SESSIONS} MCP sessions at once, each initialize, tools/list and tools/call answered, while ${SLOW_CLIENTS} slow clients are cut off`, async () => {
    const port = Number(new URL(stack.gatewayUrl).port);
    const slow = Array.from({ length: SLOW_CLIENTS }, (_, i) => {
      const socket: Socket = connect({ host: '127.0.0.1', port });
      let answer = '';
      socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
      socket.on('error', () => undefined);
      // Half never finish their headers; half promise a body and never send it.
      socket.write(i % 2 === 0 ? 'POST /mcp HTTP/1.1\r\nHost: x\r\n' : `POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${alice.token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"jsonrpc"`);
      return new Promise<string>((resolve) => socket.once('close', () => resolve(answer)));
    });
    // A kept-alive connection the server closes just as the client reuses it fails the client's
    // fetch ("other side closed"), and a request the starved gateway could not read within the
    // edge limits is cut off: the session starts over (at most five times), and the figures count it.
    const session = async (i: number, attempt = 1): Promise<{ tools: number; row: unknown }> => {
      let mcp: Client | undefined;
      try {
        mcp = await mcpClient(stack.gatewayUrl, alice.token);
        const tools = await mcp.listTools();
        const call = (await mcp.callTool({ name: 'fuzz.pg.read_one', arguments: { id: i } }, undefined, { timeout: 120_000 })) as CallResult;
        return { tools: tools.tools.length, row: (call.structuredContent as { rows?: unknown[] } | undefined)?.rows?.[0] };
      } catch (error) {
        // The transport failed, or the edge cut a request it could not read in time (408, no body).
        const message = (error as Error).message;
        const shed = /Error POSTing to endpoint: *$/.test(message) || /fetch failed|other side closed|ECONNRESET|socket hang up/.test(`${message} ${String((error as { cause?: unknown }).cause)}`);
        if (!shed || attempt >= 5) throw error;
        figures.connectionResets++;
        return session(i, attempt + 1);
      } finally {
        await mcp?.close();
      }
    };
    const results = await Promise.all(Array.from({ length: SESSIONS }, (_, i) => session(i)));
    figures.sessions = results.length;
    figures.requests += results.length * 4;
    expect(results).toEqual(Array.from({ length: SESSIONS }, (_, i) => ({ tools: 1, row: { id: i } })));
    const answers = await Promise.all(slow);
    figures.slowClients = answers.length;
    for (const answer of answers) expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    figures.rssAfterMb = rssMb(gatewayPid);
    expect(figures.rssPeakMb).toBeLessThan(RSS_BOUND_MB);
  });
});
