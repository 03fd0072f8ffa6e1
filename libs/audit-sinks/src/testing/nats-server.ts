import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NATS_SERVER_BINARY = ['/usr/sbin/nats-server', '/usr/local/bin/nats-server', '/usr/bin/nats-server'].find((p) => existsSync(p));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** A private nats-server with JetStream and the given `authorization` block, for permission tests. */
export class PrivateNatsServer {
  port = 0;
  private process?: ChildProcess;
  private dir = '';

  async start(authorization: string): Promise<this> {
    if (!NATS_SERVER_BINARY) throw new Error('nats-server is not installed');
    this.dir = mkdtempSync(join(tmpdir(), 'rungate-sink-nats-'));
    this.port = await freePort();
    const conf = join(this.dir, 'nats.conf');
    writeFileSync(conf, `listen: 127.0.0.1:${this.port}\njetstream { store_dir: ${JSON.stringify(join(this.dir, 'js'))} }\n${authorization}\n`);
    this.process = spawn(NATS_SERVER_BINARY, ['-c', conf], { stdio: 'ignore' });
    return this;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    const child = this.process;
    if (child && child.exitCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
