import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '@rungate/test-util';
import { freePort, startProcess } from './processes';

export interface SshdOptions {
  /** Extra sshd_config lines, e.g. `MaxSessions 2`. */
  config?: string[];
  /** The throwaway user's login shell (default /bin/sh: no start-up files to slow a session down). */
  loginShell?: string;
}

export interface RemoteProcess {
  pid: number;
  /** The process group it belongs to. */
  pgid: number;
  /** Its arguments, joined by spaces. */
  command: string;
}

/** A throwaway OpenSSH server on loopback, for one test file. */
export interface Sshd {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The throwaway local user the server lets in (key or password). */
  readonly user: string;
  readonly uid: number;
  readonly password: string;
  /** The user's home directory (owned by the user). */
  readonly home: string;
  /** This server's host key as its .pub file has it: `ssh-ed25519 AAAA…`. */
  readonly hostKey: string;
  /** Another server's host key of the same type: what an impostor would present. */
  readonly otherHostKey: string;
  /** `[127.0.0.1]:port ssh-ed25519 AAAA…`, for a known_hosts file. */
  readonly knownHostsLine: string;
  /** An authorized private key for the user (OpenSSH format, no passphrase), and its .pub. */
  readonly clientKeyFile: string;
  readonly clientPublicKeyFile: string;
  /** An authorized private key encrypted with `clientKeyPassphrase`. */
  readonly encryptedClientKeyFile: string;
  readonly clientKeyPassphrase: string;
  /** Everything sshd logged so far (LogLevel INFO). */
  output(): string;
  /** Logins accepted so far: one per authenticated SSH connection. */
  acceptedLogins(): number;
  /** Client connections open right now (one per-connection sshd process each). */
  openConnections(): number;
  /** Kills the per-connection sshd processes (the listener stays up), so every client connection drops. */
  dropConnections(): number;
  /** The throwaway user's processes still alive. */
  userProcesses(): RemoteProcess[];
  stop(): Promise<void>;
}

const SSHD = '/usr/sbin/sshd';
const USER_PREFIX = 'rgssh';
/** Marks users this helper made, with the pid of the process that made them, so leftovers can be reaped. */
const GECOS_PREFIX = 'rungate-test-sshd-pid-';

function keygen(file: string, passphrase = ''): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', '', '-f', file]);
  return readFileSync(`${file}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * useradd and userdel lock /etc/passwd and /etc/shadow; test files starting side by side
 * collide on the lock, so both are retried a few times.
 */
function withPasswdLock(what: string, run: () => ReturnType<typeof spawnSync>, done: () => boolean): void {
  let last = '';
  for (let attempt = 0; attempt < 20; attempt++) {
    const result = run();
    if (result.status === 0 || done()) return;
    last = `${result.stderr?.toString() ?? ''}`.trim();
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50 + Math.floor(Math.random() * 100));
  }
  throw new Error(`${what} failed: ${last}`);
}

function userExists(name: string): boolean {
  return spawnSync('id', ['-u', name]).status === 0;
}

function deleteUser(name: string): void {
  withPasswdLock(`userdel ${name}`, () => spawnSync('userdel', [name]), () => !userExists(name));
}

/** Users left by test processes that died before their stop(); never one whose maker still runs. */
function reapLeftoverUsers(): void {
  let passwd: string;
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    return;
  }
  for (const line of passwd.split('\n')) {
    const [name, , , , gecos] = line.split(':');
    if (!name?.startsWith(USER_PREFIX) || !gecos?.startsWith(GECOS_PREFIX)) continue;
    const maker = Number(gecos.slice(GECOS_PREFIX.length));
    if (Number.isInteger(maker) && maker > 0 && !alive(maker)) {
      for (const p of processesOfUser(uidOf(name))) killQuietly(p.pid, 'SIGKILL');
      try {
        deleteUser(name);
      } catch {
        // Another test file reaped it first.
      }
    }
  }
}

function uidOf(name: string): number {
  return Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
}

function createUser(name: string, home: string, loginShell: string, password: string): number {
  const hash = execFileSync('openssl', ['passwd', '-6', '-stdin'], { input: password, encoding: 'utf8' }).trim();
  withPasswdLock(
    `useradd ${name}`,
    () => spawnSync('useradd', ['-M', '-d', home, '-s', loginShell, '-c', `${GECOS_PREFIX}${process.pid}`, '-p', hash, name]),
    () => userExists(name),
  );
  return uidOf(name);
}

interface ProcStat {
  pid: number;
  ppid: number;
  pgid: number;
  comm: string;
}

function procStats(): ProcStat[] {
  const stats: ProcStat[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // comm is parenthesised and may hold spaces; the fields after it are fixed.
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' ');
      stats.push({ pid: Number(entry), comm: stat.slice(stat.indexOf('(') + 1, close), ppid: Number(fields[1]), pgid: Number(fields[2]) });
    } catch {
      // The process ended while we looked.
    }
  }
  return stats;
}

function processesOfUser(uid: number): RemoteProcess[] {
  const found: RemoteProcess[] = [];
  for (const stat of procStats()) {
    try {
      const status = readFileSync(`/proc/${stat.pid}/status`, 'utf8');
      const real = /^Uid:\s+(\d+)/m.exec(status)?.[1];
      if (Number(real) !== uid) continue;
      const command = readFileSync(`/proc/${stat.pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      found.push({ pid: stat.pid, pgid: stat.pgid, command });
    } catch {
      // Gone already.
    }
  }
  return found;
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Starts an OpenSSH server for one test file: a free 127.0.0.1 port, its own host key and
 * sshd_config, and a throwaway local user of its own (created with useradd, removed by
 * `stop()`; tests run as root) that logs in with a key or a password. Several test files
 * can each run one at the same time.
 */
export async function startSshd(options: SshdOptions = {}): Promise<Sshd> {
  reapLeftoverUsers();
  const dir = mkdtempSync(join(tmpdir(), 'rg-sshd-'));
  // sshd reads the authorized keys as the user, so the folder must be traversable.
  chmodSync(dir, 0o755);
  const user = `${USER_PREFIX}${randomBytes(5).toString('hex')}`;
  const password = `pw-${randomBytes(9).toString('base64url')}`;
  const passphrase = `pp-${randomBytes(9).toString('base64url')}`;
  const home = join(dir, 'home');
  mkdirSync(home);
  const hostKey = keygen(join(dir, 'host_key'));
  const otherHostKey = keygen(join(dir, 'other_host_key'));
  const clientKeyFile = join(dir, 'client_key');
  const encryptedClientKeyFile = join(dir, 'client_key_encrypted');
  const clientKey = keygen(clientKeyFile);
  const encryptedClientKey = keygen(encryptedClientKeyFile, passphrase);
  const authorizedKeys = join(dir, 'authorized_keys');
  writeFileSync(authorizedKeys, `${clientKey}\n${encryptedClientKey}\n`, { mode: 0o644 });
  const uid = createUser(user, home, options.loginShell ?? '/bin/sh', password);
  chownSync(home, uid, uid);
  const port = await freePort();
  mkdirSync('/run/sshd', { recursive: true });
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin no',
      `AllowUsers ${user}`,
      'StrictModes no',
      'UsePAM no',
      'PrintMotd no',
      'PidFile none',
      'MaxStartups 100',
      'LogLevel INFO',
      ...(options.config ?? []),
    ].join('\n') + '\n',
  );
  const sshd = startProcess(`sshd-${port}`, SSHD, ['-D', '-e', '-f', config], process.env);
  const master = sshd.child.pid ?? 0;
  const cleanUp = () => {
    for (const p of processesOfUser(uid)) killQuietly(p.pid, 'SIGKILL');
    try {
      deleteUser(user);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    await eventually(async () => {
      if (sshd.child.exitCode !== null) throw new Error(`sshd exited: ${sshd.output()}`);
      if (!sshd.output().includes(`Server listening on 127.0.0.1 port ${port}`)) throw new Error(`sshd is not listening yet: ${sshd.output()}`);
    }, 10_000, 20);
  } catch (error) {
    await sshd.stop();
    cleanUp();
    throw error;
  }

  /** The per-connection sshd processes: the listener's descendants named sshd. */
  const connectionProcesses = (): number[] => {
    const stats = procStats();
    const descendants = new Set<number>([master]);
    let grew = true;
    while (grew) {
      grew = false;
      for (const stat of stats) {
        if (descendants.has(stat.ppid) && !descendants.has(stat.pid)) {
          descendants.add(stat.pid);
          grew = true;
        }
      }
    }
    return stats.filter((s) => s.pid !== master && descendants.has(s.pid) && s.comm === 'sshd').map((s) => s.pid);
  };

  return {
    host: '127.0.0.1',
    port,
    user,
    uid,
    password,
    home,
    hostKey,
    otherHostKey,
    knownHostsLine: `[127.0.0.1]:${port} ${hostKey}`,
    clientKeyFile,
    clientPublicKeyFile: `${clientKeyFile}.pub`,
    encryptedClientKeyFile,
    clientKeyPassphrase: passphrase,
    output: () => sshd.output(),
    acceptedLogins: () => sshd.output().match(new RegExp(`Accepted (publickey|password) for ${user} from`, 'g'))?.length ?? 0,
    // sshd forks one monitor process per connection straight from the listener.
    openConnections: () => procStats().filter((s) => s.ppid === master && s.comm === 'sshd').length,
    dropConnections: () => {
      const pids = connectionProcesses();
      for (const pid of pids) killQuietly(pid, 'SIGKILL');
      return pids.length;
    },
    userProcesses: () => processesOfUser(uid),
    stop: async () => {
      await sshd.stop();
      cleanUp();
    },
  };
}
