import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** The part of PGlite this bridge needs: raw wire-protocol messages in, raw responses out. */
export interface WireDatabase {
  execProtocolRaw(message: Uint8Array): Promise<Uint8Array>;
  exec(sql: string): Promise<unknown>;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;
const MAX_MESSAGE = 64 * 1024 * 1024;

function message(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

function parameterStatus(name: string, value: string): Buffer {
  return message('S', Buffer.from(`${name}\0${value}\0`, 'utf8'));
}

/** What a server says after accepting a startup: authenticated, its settings, ready. */
function startupReply(): Buffer {
  const keyData = Buffer.alloc(8);
  keyData.writeInt32BE(process.pid, 0);
  return Buffer.concat([
    message('R', Buffer.from([0, 0, 0, 0])),
    parameterStatus('server_version', '18.0'),
    parameterStatus('server_encoding', 'UTF8'),
    parameterStatus('client_encoding', 'UTF8'),
    parameterStatus('DateStyle', 'ISO, MDY'),
    parameterStatus('integer_datetimes', 'on'),
    parameterStatus('standard_conforming_strings', 'on'),
    parameterStatus('TimeZone', 'UTC'),
    message('K', keyData),
    message('Z', Buffer.from('I', 'latin1')),
  ]);
}

/**
 * A PostgreSQL endpoint on loopback backed by an embedded PGlite: the all-in-one demo's
 * target, so the executor talks to it with the same driver, protocol and code path as to a
 * real server. PGlite has one session, so one client holds it at a time (others wait) and
 * each client's leftovers (an open transaction, session settings) are discarded when it goes.
 * No authentication: it listens on 127.0.0.1 only, for the demo.
 */
export class PgWireBridge {
  private server?: Server;
  private holder: Promise<void> = Promise.resolve();

  constructor(private readonly db: WireDatabase) {}

  async listen(port = 0, host = '127.0.0.1'): Promise<number> {
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private accept(socket: Socket): void {
    socket.setNoDelay(true);
    let buffer = Buffer.alloc(0);
    let started = false;
    let release: (() => void) | undefined;
    let work: Promise<void> = Promise.resolve();
    const fail = (): void => {
      socket.destroy();
    };

    const acquire = async (): Promise<void> => {
      const previous = this.holder;
      let done!: () => void;
      this.holder = new Promise<void>((resolve) => (done = resolve));
      await previous;
      release = () => {
        release = undefined;
        // Whatever the client left behind must not reach the next one.
        void this.db
          .exec('ROLLBACK')
          .catch(() => undefined)
          .then(() => this.db.exec('DISCARD ALL'))
          .catch(() => undefined)
          .finally(done);
      };
      if (socket.destroyed) release();
    };

    const handle = async (): Promise<void> => {
      for (;;) {
        if (!started) {
          if (buffer.length < 8) return;
          const length = buffer.readInt32BE(0);
          if (length < 8 || length > 10_000 || buffer.length < length) return length > 10_000 || length < 8 ? fail() : undefined;
          const code = buffer.readInt32BE(4);
          buffer = buffer.subarray(length);
          if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
            socket.write('N');
            continue;
          }
          if (code === CANCEL_REQUEST || code !== PROTOCOL_3) return fail();
          await acquire();
          if (socket.destroyed) return;
          started = true;
          socket.write(startupReply());
          continue;
        }
        // Whole messages only: type byte, then a length that counts itself.
        let end = 0;
        let terminate = false;
        while (buffer.length - end >= 5) {
          const length = buffer.readInt32BE(end + 1);
          if (length < 4 || length > MAX_MESSAGE) return fail();
          if (buffer.length - end < length + 1) break;
          if (buffer[end] === 0x58 /* X: Terminate */) {
            terminate = true;
            break;
          }
          end += length + 1;
        }
        if (end > 0) {
          const chunk = buffer.subarray(0, end);
          buffer = buffer.subarray(end);
          const reply = await this.db.execProtocolRaw(new Uint8Array(chunk));
          if (!socket.destroyed && reply.length > 0) socket.write(reply);
        }
        if (terminate) {
          socket.end();
          return;
        }
        return;
      }
    };

    socket.on('data', (data: Buffer) => {
      buffer = Buffer.concat([buffer, data]);
      work = work.then(handle).catch(fail);
    });
    socket.on('close', () => {
      void work.finally(() => release?.());
    });
    socket.on('error', () => undefined);
  }
}
