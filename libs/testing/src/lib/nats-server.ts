import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '@rungate/test-util';
import { freePort, startProcess, type ServiceProcess } from './processes';

export const NATS_SERVER_BIN = process.env['NATS_SERVER_BIN'] ?? '/usr/sbin/nats-server';

/**
 * A nats-server with JetStream of its own (free loopback port, its own store directory), for
 * suites that stop and start NATS: the machine's shared server on 4222 is never touched.
 * The store survives restarts, as a production server's disk does.
 */
export interface TestNatsServer {
  port: number;
  url: string;
  storeDir: string;
  /** How many times `restart` stopped and started it. */
  restarts: number;
  /** Stops the server (SIGTERM, as an orchestrator does) and starts it again on the same port and store. */
  restart(options?: { downMs?: number }): Promise<void>;
  stop(): Promise<void>;
  output(): string;
}

function accepting(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}

export async function startNatsServer(): Promise<TestNatsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'rg-nats-'));
  const port = await freePort();
  let server: ServiceProcess | undefined;
  let previousOutput = '';
  const start = async () => {
    server = startProcess('nats-server', NATS_SERVER_BIN, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dir, 'store')], {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    });
    const current = server;
    await eventually(async () => {
      if (current.child.exitCode !== null) throw new Error(`nats-server exited: ${current.output()}`);
      if (!current.output().includes('Server is ready')) throw new Error('nats-server not ready yet');
      await accepting(port);
    }, 20_000);
  };
  await start();
  const handle: TestNatsServer = {
    port,
    url: `nats://127.0.0.1:${port}`,
    storeDir: join(dir, 'store'),
    restarts: 0,
    restart: async ({ downMs = 0 } = {}) => {
      previousOutput += server?.output() ?? '';
      await server?.stop();
      if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
      await start();
      handle.restarts++;
    },
    stop: async () => {
      await server?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
    output: () => previousOutput + (server?.output() ?? ''),
  };
  return handle;
}
