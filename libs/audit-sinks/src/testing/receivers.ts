import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { OctetFrameDecoder } from './syslog-frames';

export interface ReceivedRequest {
  headers: IncomingHttpHeaders;
  raw: Buffer;
}

function listen(server: HttpServer | NetServer, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

function closeServer(server: HttpServer | NetServer, sockets: Set<Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * A real HTTP server on a loopback port that records every request. `answer` picks the
 * status per request; `stop()`/`restart()` take the port down and bring it back.
 */
export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  answer: (request: ReceivedRequest) => number = () => 204;
  port = 0;
  private server?: HttpServer;
  private readonly sockets = new Set<Socket>();

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks/rungate`;
  }

  async start(): Promise<this> {
    const server = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const request = { headers: req.headers, raw: Buffer.concat(chunks) };
        const status = this.answer(request);
        if (status >= 200 && status < 300) this.requests.push(request);
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status >= 300 ? `refused with ${status}` : '');
      });
    });
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.port = await listen(server, this.port);
    this.server = server;
    return this;
  }

  async stop(): Promise<void> {
    if (this.server) await closeServer(this.server, this.sockets);
    this.server = undefined;
  }
}

export interface TlsIdentity {
  key: Buffer;
  cert: Buffer;
  /** The certificate as a file, to use as the client's CA. */
  caFile: string;
  dispose(): void;
}

/**
 * A self-signed certificate for localhost/127.0.0.1 made by openssl, or null when openssl
 * is not installed (node:crypto cannot issue X.509 certificates by itself).
 */
export function selfSignedCertificate(): TlsIdentity | null {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), 'rungate-sink-tls-'));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1',
      '-subj', '/CN=syslog.test', '-addext', 'subjectAltName=DNS:syslog.test,IP:127.0.0.1'],
    { stdio: 'ignore' },
  );
  return {
    key: readFileSync(keyFile),
    cert: readFileSync(certFile),
    caFile: certFile,
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A real TCP (or TLS) syslog receiver that decodes octet-counted frames. */
export class SyslogReceiver {
  readonly messages: string[] = [];
  readonly errors: Error[] = [];
  port = 0;
  private server?: NetServer;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly tls?: TlsIdentity) {}

  async start(): Promise<this> {
    const onSocket = (socket: Socket) => {
      this.sockets.add(socket);
      const decoder = new OctetFrameDecoder();
      socket.on('data', (chunk: Buffer) => {
        try {
          this.messages.push(...decoder.push(chunk));
        } catch (error) {
          this.errors.push(error as Error);
          socket.destroy();
        }
      });
      socket.on('error', () => undefined);
      socket.on('close', () => this.sockets.delete(socket));
    };
    const server = this.tls ? createTlsServer({ key: this.tls.key, cert: this.tls.cert }, onSocket) : createNetServer(onSocket);
    this.port = await listen(server, this.port);
    this.server = server;
    return this;
  }

  /** Drops every connection from the receiver's side, as a crashing receiver would. */
  dropConnections(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async stop(): Promise<void> {
    if (this.server) await closeServer(this.server, this.sockets);
    this.server = undefined;
  }
}

export function writeSecretFile(secret: string): { ref: string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'rungate-sink-secret-'));
  const file = join(dir, 'secret');
  writeFileSync(file, `${secret}\n`);
  return { ref: `file:${file}`, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}
