import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { discoverOAuthProtectedResourceMetadata, extractWWWAuthenticateParams, selectResourceURL } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { createRunbookRepository, createTestDatabase, eventually, RUNGATE_BIN, serviceArgs, startProcess, type ServiceProcess, type TestDatabase } from '@rungate/testing';
import { TRANSPORTS, type Transport } from './support/stack';

/** selectResourceURL consults the provider only for an optional hook this test does not use. */
const NO_PROVIDER = {} as OAuthClientProvider;

/**
 * RFC 9728 as an MCP client meets it: the gateway listens on a port its configuration does not
 * name (`PORT=0` for a service, `rungate serve --port 0`), and the metadata, the 401's
 * WWW-Authenticate and the SDK's own resource check all name the address it really listens on.
 */
describe.each(TRANSPORTS)('protected-resource metadata over %s, on a port the configuration does not name', (transport: Transport) => {
  let gateway: ServiceProcess;
  let db: TestDatabase;
  let url: string;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-prm-'));
    db = await createTestDatabase('rge2e_prm');
    const repo = createRunbookRepository({ 'postgres/noop.runbook.sql': 'SELECT 1;\n' });
    const configFile = join(dir, 'rungate.yaml');
    // Port 1 is never bound here: a gateway that advertised its configured port would say :1.
    writeFileSync(
      configFile,
      `repositories: [{ name: prm, url: ${repo.dir} }]
gateway: { host: 127.0.0.1, port: 1 }
gitSync: { cacheDir: ${join(dir, 'git')}, port: 0 }
audit: { port: 0, deliver: new }
`,
    );
    const env = { ...process.env, RUNGATE_CONFIG: configFile, DATABASE_URL: db.url };
    gateway =
      transport === 'nats'
        ? startProcess('gateway', process.execPath, serviceArgs('gateway'), { ...env, PORT: '0' })
        : startProcess('serve', process.execPath, [RUNGATE_BIN, 'serve', '--config', configFile, '--port', '0', '--data-dir', join(dir, 'data')], env);
    url = await eventually(async () => {
      if (gateway.child.exitCode !== null) throw new Error(`${gateway.name} exited: ${gateway.output()}`);
      const listening = /gateway started on (http:\/\/127\.0\.0\.1:\d+)/.exec(gateway.output()) ?? /MCP endpoint\s+(http:\/\/127\.0\.0\.1:\d+)\/mcp/.exec(gateway.output());
      if (!listening) throw new Error(`not listening yet:\n${gateway.output()}`);
      return listening[1] as string;
    }, 60_000);
  });

  afterAll(async () => {
    await gateway?.stop();
    await db?.drop();
  });

  it('names the MCP endpoint at the real scheme, host, port and path, at the path-suffixed well-known URL', async () => {
    expect(url).not.toMatch(/:1$/);
    const res = await fetch(`${url}/.well-known/oauth-protected-resource/mcp`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ resource: `${url}/mcp`, bearer_methods_supported: ['header'] });
  });

  it('names the origin at the root well-known URL, as RFC 9728 §3.3 requires of the URL it was fetched from', async () => {
    const res = await fetch(`${url}/.well-known/oauth-protected-resource`);
    expect(await res.json()).toMatchObject({ resource: url });
  });

  it('points every 401 at that metadata, and the MCP SDK accepts the resource it names for this endpoint', async () => {
    const endpoint = `${url}/mcp`;
    for (const headers of [{}, { Authorization: 'Basic abc' }] as Record<string, string>[]) {
      const res = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(new RegExp(`^Bearer resource_metadata="${url}/\\.well-known/oauth-protected-resource/mcp"`));
      const { resourceMetadataUrl } = extractWWWAuthenticateParams(res);
      expect(resourceMetadataUrl?.href).toBe(`${url}/.well-known/oauth-protected-resource/mcp`);
      const metadata = await discoverOAuthProtectedResourceMetadata(endpoint, { resourceMetadataUrl });
      expect(metadata.resource).toBe(endpoint);
      // The SDK refuses metadata naming another origin or path: this is the check that failed on a moved port.
      await expect(selectResourceURL(endpoint, NO_PROVIDER, metadata)).resolves.toEqual(new URL(endpoint));
    }
    // Discovery without the header's hint tries the path-suffixed URL first, as the SDK does.
    expect((await discoverOAuthProtectedResourceMetadata(endpoint)).resource).toBe(endpoint);
  });
});
