import { chmodSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ERROR_EDGES, RungateError } from '@rungate/contracts';
import type { z } from 'zod';
import type { TokenAdmin } from '@rungate/persistence';
import { AdminRoutes, ConsoleLinkRequest, CreateTokenRequest, adminSocketPath, socketAddress } from './protocol';

const MAX_BODY_BYTES = 64 * 1024;

export interface AdminHandlers {
  tokens: TokenAdmin;
  /** Why a token for this user would never authenticate, if it would not. */
  refuseUser(user: string): string | undefined;
  /** A one-time web-console sign-in link for the user. */
  consoleLink(user: string): Promise<{ user: string; url: string }>;
}

export interface AdminEndpoint {
  /** The socket's path, as printed in the banner. */
  path: string;
  close(): Promise<void>;
}

class NotFound extends Error {}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new RungateError('BAD_REQUEST', `request body over ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        resolve(chunks.length === 0 ? undefined : JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new RungateError('BAD_REQUEST', 'the request body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}

function parse<T extends z.ZodTypeAny>(schema: T, body: unknown): z.infer<T> {
  const result = schema.safeParse(body);
  if (!result.success) throw new RungateError('BAD_REQUEST', result.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; '));
  return result.data;
}

async function route(req: IncomingMessage, handlers: AdminHandlers): Promise<unknown> {
  const path = new URL(req.url ?? '/', 'http://admin').pathname;
  if (path === AdminRoutes.status && req.method === 'GET') return { pid: process.pid };
  if (path === AdminRoutes.tokens && req.method === 'GET') return { tokens: await handlers.tokens.list() };
  if (path === AdminRoutes.tokens && req.method === 'POST') {
    const input = parse(CreateTokenRequest, await readBody(req));
    const refusal = handlers.refuseUser(input.user);
    if (refusal) throw new RungateError('BAD_REQUEST', refusal);
    return handlers.tokens.create(input);
  }
  if (path === AdminRoutes.consoleLink && req.method === 'POST') {
    const { user } = parse(ConsoleLinkRequest, await readBody(req));
    const refusal = handlers.refuseUser(user);
    if (refusal) throw new RungateError('BAD_REQUEST', refusal);
    return handlers.consoleLink(user);
  }
  const revoke = /^\/v1\/tokens\/([^/]+)\/revoke$/.exec(path);
  if (revoke && req.method === 'POST') {
    const id = decodeURIComponent(revoke[1] as string);
    const record = await handlers.tokens.revoke(id);
    if (!record) throw new NotFound(`no token ${id}`);
    return { record };
  }
  throw new NotFound(`no ${req.method} ${path}`);
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function handle(req: IncomingMessage, res: ServerResponse, handlers: AdminHandlers): Promise<void> {
  try {
    reply(res, 200, await route(req, handlers));
  } catch (error) {
    if (error instanceof NotFound) return reply(res, 404, { error: { code: 'BAD_REQUEST', message: error.message } });
    const failure = error instanceof RungateError ? error : new RungateError('INTERNAL', (error as Error).message);
    reply(res, ERROR_EDGES[failure.code].http, { error: failure.toBody() });
  }
}

/**
 * `rungate serve`'s admin endpoint: HTTP over the Unix socket `<data-dir>/admin.sock`, mode
 * 0600 in a 0700 directory, so only the OS user running serve (and root) can connect — the
 * file system is the authentication (ADR 11). `unavailable` when the path is too long for a
 * socket address.
 */
export async function listenAdmin(dataDir: string, handlers: AdminHandlers): Promise<AdminEndpoint | { unavailable: string }> {
  const path = adminSocketPath(dataDir);
  const address = socketAddress(path);
  if (!address) return { unavailable: `${path} is too long for a Unix socket address; use a shorter --data-dir` };
  // The caller holds the data directory's lock: a socket file here was left by a serve that died.
  rmSync(path, { force: true });
  const server: Server = createServer((req, res) => void handle(req, res, handlers));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // bind(2) runs inside listen(), synchronously: the socket is created 0600 from the start,
    // not widened for an instant before the chmod below.
    const umask = process.umask(0o177);
    try {
      server.listen(address, () => resolve());
    } finally {
      process.umask(umask);
    }
  });
  chmodSync(path, 0o600);
  return {
    path,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      rmSync(path, { force: true });
    },
  };
}
