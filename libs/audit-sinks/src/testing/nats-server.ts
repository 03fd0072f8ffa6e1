import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
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

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * A private nats-server with JetStream and the given `authorization` block, for tests that
 * must not touch the shared server: permissions, a deleted stream, a server that goes away.
 * `halt()` then `start()` again brings it back on the same port with the same JetStream
 * data, as a restarted server would; `stop()` removes everything.
 */
export class PrivateNatsServer {
  port = 0;
  private process?: ChildProcess;
  private dir = '';

  async start(authorization = ''): Promise<this> {
    if (!NATS_SERVER_BINARY) throw new Error('nats-server is not installed');
    this.dir ||= mkdtempSync(join(tmpdir(), 'rungate-sink-nats-'));
    this.port ||= await freePort();
    const conf = join(this.dir, 'nats.conf');
    writeFileSync(conf, `listen: 127.0.0.1:${this.port}\njetstream { store_dir: ${JSON.stringify(join(this.dir, 'js'))} }\n${authorization}\n`);
    const child = spawn(NATS_SERVER_BINARY, ['-c', conf], { stdio: 'ignore' });
    this.process = child;
    const deadline = Date.now() + 10_000;
    while (!(await accepts(this.port))) {
      if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}`);
      if (Date.now() > deadline) throw new Error(`nats-server did not listen on ${this.port}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return this;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Stops the server process; its port and JetStream data stay for a later start(). */
  async halt(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (child && child.exitCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    }
  }

  async stop(): Promise<void> {
    await this.halt();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = '';
  }
}
