import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CatalogGetReply, Subjects, type RungateError } from '@rungate/contracts';
import { NatsBus, connectNats } from '@rungate/messaging';
import { createRunbookRepository, eventually, serviceArgs, startProcess, startSshd, type ServiceProcess, type Sshd } from '@rungate/testing';
import type { NatsConnection } from 'nats';

/** git-sync fetching over SSH from a real sshd: key authentication, host key pinned, no trust on first use. */
describe('git-sync over SSH', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rg-gitssh-'));
  let sshd: Sshd;
  let nc: NatsConnection;
  const services: ServiceProcess[] = [];
  let remote: string;

  beforeAll(async () => {
    sshd = await startSshd();
    const source = createRunbookRepository({ 'pg/get_user.runbook.sql': 'SELECT {{ .id | type "number" }};\n' });
    // The repository lives in the SSH user's home and belongs to that user, as on a git host.
    remote = join(sshd.home, 'remote.git');
    execFileSync('git', ['clone', '-q', '--bare', source.dir, remote]);
    execFileSync('chown', ['-R', `${sshd.uid}:${sshd.uid}`, remote]);
    writeFileSync(join(dir, 'known_hosts'), `${sshd.knownHostsLine}\n`);
    writeFileSync(join(dir, 'wrong_known_hosts'), `[127.0.0.1]:${sshd.port} ${sshd.otherHostKey}\n`);
    nc = await connectNats({ name: 'git-ssh-test' });
  });

  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop()));
    await sshd?.stop();
    await nc?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function startGitSync(name: string, knownHosts: string): ServiceProcess {
    const config = join(dir, `${name}.yaml`);
    writeFileSync(
      config,
      `repositories:
  - name: ${name}
    url: ssh://${sshd.user}@127.0.0.1:${sshd.port}${remote}
    pollInterval: 1s
    auth: { sshKey: file:${sshd.clientKeyFile}, knownHosts: file:${join(dir, knownHosts)} }
gitSync: { cacheDir: ${join(dir, `cache-${name}`)}, port: 0 }
`,
    );
    const service = startProcess(`git-sync-${name}`, process.execPath, serviceArgs('git-sync'), { ...process.env, RUNGATE_CONFIG: config });
    services.push(service);
    return service;
  }

  it('syncs with the key when the host key matches the pinned one', async () => {
    const service = startGitSync('viassh', 'known_hosts');
    const bus = new NatsBus(nc);
    const reply = await eventually(async () => bus.request(Subjects.catalogGet, { repository: 'viassh' }, CatalogGetReply, { timeoutMs: 5000 }), 30_000).catch(
      (error: Error) => {
        throw new Error(`${error.message}\n${service.output()}\n${sshd.output()}`);
      },
    );
    expect(reply.catalogs[0]?.runbooks.map((r) => r.tool)).toEqual(['viassh.pg.get_user']);
    expect(reply.catalogs[0]?.stale).toBe(false);
  });

  it('refuses a server whose host key is not the pinned one', async () => {
    // Only this service may answer: stop the one from the previous case.
    await Promise.all(services.splice(0).map((s) => s.stop()));
    const service = startGitSync('spoofed', 'wrong_known_hosts');
    const bus = new NatsBus(nc);
    // Once the service answers at all, it must refuse to serve a catalog from the impostor.
    const refusal = await eventually(async () => {
      try {
        await bus.request(Subjects.catalogGet, { repository: 'spoofed' }, CatalogGetReply, { timeoutMs: 5000 });
      } catch (error) {
        if ((error as RungateError).code === 'CATALOG_UNAVAILABLE') return error as RungateError;
        throw error;
      }
      throw new Error(`served a catalog from a server with the wrong host key\n${service.output()}`);
    }, 30_000);
    expect(refusal.message).toMatch(/spoofed/);
    expect(refusal.message).not.toMatch(/not configured/);
    expect(service.output()).not.toMatch(/BEGIN OPENSSH PRIVATE KEY/);
  });
});
