import { request } from 'node:http';
import { ErrorBody, RungateError } from '@rungate/contracts';
import { z } from 'zod';
import { adminSocketPath, socketAddress } from './protocol';

/** No `rungate serve` answers on the socket: none runs, or one died and left the file. */
export class AdminUnreachable extends Error {}

const ErrorReply = z.object({ error: ErrorBody });

/** The CLI's side of serve's admin socket (ADR 11). */
export class AdminClient {
  constructor(private readonly address: string) {}

  /** Undefined when the socket's path cannot be a socket address (serve then has none either). */
  static forDataDir(dataDir: string): AdminClient | undefined {
    const address = socketAddress(adminSocketPath(dataDir));
    return address ? new AdminClient(address) : undefined;
  }

  /**
   * One JSON request. Rejects with AdminUnreachable only when the connection was never made,
   * so nothing happened and the caller may do the work another way; a refusal from serve is a
   * RungateError; undefined for a 404.
   */
  async call<T extends z.ZodTypeAny>(method: 'GET' | 'POST', path: string, schema: T, body?: unknown): Promise<z.infer<T> | undefined> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        { socketPath: this.address, path, method, headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {} },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          res.on('error', reject);
        },
      );
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') reject(new AdminUnreachable(error.message));
        else if (error.code === 'EACCES') reject(new RungateError('SERVICE_UNAVAILABLE', `cannot use ${this.address}: permission denied (it belongs to the user running rungate serve)`));
        else reject(new RungateError('SERVICE_UNAVAILABLE', `rungate serve's admin socket failed: ${error.message}`));
      });
      req.end(payload);
    });
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new RungateError('SERVICE_UNAVAILABLE', `rungate serve's admin socket answered HTTP ${status} without JSON`);
    }
    if (status === 404) return undefined;
    if (status !== 200) {
      const failure = ErrorReply.safeParse(json);
      throw failure.success ? RungateError.from(failure.data.error) : new RungateError('SERVICE_UNAVAILABLE', `rungate serve's admin socket answered HTTP ${status}`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new RungateError('SERVICE_UNAVAILABLE', `rungate serve's admin socket answered in an unexpected shape (${parsed.error.issues[0]?.message})`);
    return parsed.data;
  }
}
