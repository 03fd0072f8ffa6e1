import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SourceRepository, temporaryDir } from '../testing/source-repository';
import { gitEnvironment } from './git-environment';
import { GitMirror } from './git-mirror';

const TOKEN = 'ghp_TestToken0123456789';

/**
 * A real HTTPS git server: Node's https server in front of `git http-backend` (CGI), which
 * refuses requests without `Authorization: Basic x-access-token:<token>`.
 */
function startGitServer(projectRoot: string, tls: { key: Buffer; cert: Buffer }, seen: { url: string; authorization?: string }[]): Promise<Server> {
  const expected = `Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')}`;
  const server = createServer(tls, (req, res) => {
    seen.push({ url: req.url ?? '', authorization: req.headers.authorization });
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' }).end();
      return;
    }
    const url = new URL(req.url ?? '/', 'https://localhost');
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env['PATH'],
        GIT_PROJECT_ROOT: projectRoot,
        GIT_HTTP_EXPORT_ALL: '1',
        REQUEST_METHOD: req.method ?? 'GET',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
        GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
        REMOTE_USER: 'x-access-token',
        REMOTE_ADDR: '127.0.0.1',
      },
    });
    req.pipe(cgi.stdin);
    const chunks: Buffer[] = [];
    cgi.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    cgi.on('close', () => {
      const output = Buffer.concat(chunks);
      const split = output.indexOf('\r\n\r\n');
      const headers: Record<string, string> = {};
      let status = 200;
      for (const line of output.subarray(0, split).toString().split('\r\n')) {
        const [name = '', ...rest] = line.split(':');
        if (name.toLowerCase() === 'status') status = Number(rest.join(':').trim().split(' ')[0]);
        else if (name) headers[name] = rest.join(':').trim();
      }
      res.writeHead(status, headers).end(output.subarray(split + 4));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('GitMirror over HTTPS with a token', () => {
  let source: SourceRepository;
  let server: Server;
  let certFile: string;
  const seen: { url: string; authorization?: string }[] = [];

  beforeAll(async () => {
    source = new SourceRepository({ 'a.runbook.sql': 'SELECT 1;\n' });
    const tls = temporaryDir('rg-tls-');
    certFile = join(tls, 'cert.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', join(tls, 'key.pem'), '-out', certFile,
    ], { stdio: 'ignore' });
    server = await startGitServer(join(source.dir, '..'), { key: readFileSync(join(tls, 'key.pem')), cert: readFileSync(certFile) }, seen);
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    source.remove();
  });

  function mirror(tokenValue: string): GitMirror {
    const dir = join(temporaryDir(), 'ops');
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/${source.dir.split('/').pop()}`;
    const environment = gitEnvironment(
      { name: 'ops', url, auth: { token: 'env:GIT_TOKEN' } },
      {
        secretsDir: join(dir, '..', 's'),
        resolveSecret: (ref) => (ref === 'env:GIT_TOKEN' ? tokenValue : ''),
        baseEnv: { PATH: process.env['PATH'], HOME: dir, GIT_SSL_CAINFO: certFile },
      },
    );
    return new GitMirror({ dir, branch: 'main', environment });
  }

  it('authenticates with the token as a header; the token never appears in a URL', async () => {
    const good = mirror(TOKEN);
    expect(await good.remoteHead()).toBe(source.head());
    expect(await good.fetch()).toBe(source.head());
    good.close();
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((r) => !r.url.includes(TOKEN))).toBe(true);
    expect(seen.some((r) => r.authorization?.startsWith('Basic '))).toBe(true);
  });

  it('fails with a message that does not contain the token when the server refuses it', async () => {
    const wrong = mirror('ghp_WrongToken9876543210');
    const failure = await wrong.remoteHead().then(
      () => undefined,
      (error: Error) => error,
    );
    wrong.close();
    expect(failure?.message).toMatch(/git ls-remote failed: .*(401|Authentication failed|could not read Username)/i);
    expect(failure?.message).not.toContain('ghp_WrongToken9876543210');
    expect(failure?.message).not.toContain(Buffer.from('x-access-token:ghp_WrongToken9876543210').toString('base64'));
  });
});
