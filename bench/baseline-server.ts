/**
 * Baseline (b): a bare MCP SDK server with the gateway's transport settings (stateless
 * Streamable HTTP, JSON responses, a new server per request) running the same SQL via pg.
 */
import { createServer } from 'node:http';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { Pool } from 'pg';

const pool = new Pool({ connectionString: process.env['BENCH_DB_URL'], max: 10 });
const SQL = 'SELECT user_id, email FROM users WHERE user_id = $1';
// Shared across per-request servers, as the gateway does: the baseline gets the same saving.
const validator = new AjvJsonSchemaValidator();

const http = createServer((req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(405, { Allow: 'POST' }).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', async () => {
    const server = new Server({ name: 'baseline', version: '1' }, { capabilities: { tools: {} }, jsonSchemaValidator: validator });
    server.setRequestHandler(ListToolsRequestSchema, async () => ({
      tools: [{ name: 'get_user', inputSchema: { type: 'object', properties: { user_id: { type: 'number' } } } }],
    }));
    server.setRequestHandler(CallToolRequestSchema, async (request) => {
      const { rows } = await pool.query(SQL, [request.params.arguments?.['user_id']]);
      return { content: [{ type: 'text', text: JSON.stringify(rows) }], structuredContent: { rows } };
    });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, JSON.parse(Buffer.concat(chunks).toString('utf8')));
  });
});
http.listen(0, '127.0.0.1', () => {
  const address = http.address();
  process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`);
});
