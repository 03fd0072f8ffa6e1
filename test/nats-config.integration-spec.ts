import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureAuditStream } from '@rungate/messaging';
import { eventually, freePorts, startProcess, type ServiceProcess } from '@rungate/testing';
import { connect, type NatsConnection } from 'nats';

const CONF = join(__dirname, '..', 'deploy', 'nats', 'nats.conf');

/** The shipped deploy/nats/nats.conf, run by a real nats-server: service users cannot destroy the audit trail. */
describe('deploy/nats/nats.conf', () => {
  let server: ServiceProcess;
  let port: number;
  const connections: NatsConnection[] = [];

  async function as(user: string, pass: string): Promise<NatsConnection> {
    const nc = await connect({ servers: `127.0.0.1:${port}`, user, pass });
    connections.push(nc);
    return nc;
  }

  beforeAll(async () => {
    let monitorPort: number;
    [port, monitorPort] = (await freePorts(2)) as [number, number];
    const env = { ...process.env, RUNGATE_NATS_PASSWORD: 'svc-pass', RUNGATE_NATS_OPERATOR_PASSWORD: 'op-pass' };
    // The shipped file, with only its storage moved to a scratch folder.
    const dir = mkdtempSync(join(tmpdir(), 'rg-nats-'));
    const conf = join(dir, 'nats.conf');
    writeFileSync(conf, readFileSync(CONF, 'utf8').replace('"/data/jetstream"', JSON.stringify(join(dir, 'js'))));
    server = startProcess('nats', '/usr/sbin/nats-server', ['-c', conf, '-a', '127.0.0.1', '-p', String(port), '-m', String(monitorPort)], env);
    await eventually(async () => (await as('operator', 'op-pass')).flush());
  });

  afterAll(async () => {
    await Promise.all(connections.map((nc) => nc.close()));
    await server.stop();
  });

  it('lets a service create and use the AUDIT stream, but not delete, purge, weaken or restore over it', async () => {
    const service = await as('rungate', 'svc-pass');
    const jsm = await service.jetstreamManager({ timeout: 2000 });
    await ensureAuditStream(jsm);
    await service.jetstream().publish('audit.run.decided', new TextEncoder().encode('{}'));
    await expect(jsm.streams.delete('AUDIT')).rejects.toThrow();
    await expect(jsm.streams.purge('AUDIT')).rejects.toThrow();
    await expect(jsm.streams.update('AUDIT', { deny_delete: false })).rejects.toThrow();
    // A restore would replace the stream's contents wholesale: refused before JetStream sees it.
    const restore = service.request('$JS.API.STREAM.RESTORE.AUDIT', new TextEncoder().encode(JSON.stringify({ config: { name: 'AUDIT' } })), { timeout: 2000 });
    await expect(restore).rejects.toThrow(/permissions violation/i);
    const operator = await (await as('operator', 'op-pass')).jetstreamManager();
    expect((await operator.streams.info('AUDIT')).state.messages).toBe(1);
  });

  it('refuses unknown users', async () => {
    await expect(connect({ servers: `127.0.0.1:${port}`, user: 'rungate', pass: 'wrong', reconnect: false })).rejects.toThrow(/Authorization/i);
  });
});
