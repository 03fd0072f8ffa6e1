import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { PGID_MARKER, PGID_SEARCH_LIMIT, PgidReader, killGroupCommand, remoteCommand, remoteScript, shellQuote } from './remote-script';

/** What sshd does with an exec request: the login shell runs the command with -c, in a session of its own. */
function runAsSshd(command: string, stdin: string): { stdout: string; stderr: string; status: number | null } {
  const result = spawnSync('setsid', ['-w', '/bin/sh', '-c', command], { input: stdin, encoding: 'utf8' });
  return { stdout: result.stdout, stderr: result.stderr, status: result.status };
}

/** Gone, or a zombie nobody reaped yet (the container's pid 1 may be slow to). */
function isGone(pid: number): boolean {
  try {
    return / Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

describe('shellQuote', () => {
  it('keeps every byte literal', () => {
    const value = `it's $HOME \`id\` "q" \\ \n`;
    expect(spawnSync('/bin/sh', ['-c', `printf %s ${shellQuote(value)}`], { encoding: 'utf8' }).stdout).toBe(value);
  });
});

describe('remoteCommand and remoteScript', () => {
  it('report the shell\'s pid on stderr first, which leads its process group, then run the script', () => {
    const { stdout, stderr, status } = runAsSshd(remoteCommand(), remoteScript({}, 'echo "pgid $(ps -o pgid= -p $$ | tr -d " ")"; exit 7'));
    const pid = new RegExp(`^${PGID_MARKER}(\\d+)\\n$`).exec(stderr)?.[1];
    expect(pid).toBeDefined();
    expect(stdout).toBe(`pgid ${pid}\n`);
    expect(status).toBe(7);
  });

  it('use the configured shell', () => {
    expect(runAsSshd(remoteCommand('/bin/bash'), remoteScript({}, 'echo "${BASH_VERSION:-none}"')).stdout).toMatch(/^\d+\.\d+/);
  });

  it('export asenv values before the body', () => {
    expect(runAsSshd(remoteCommand(), remoteScript({ GREETING: "it's $(id)" }, 'printf %s "$GREETING"')).stdout).toBe("it's $(id)");
  });

  it('run all of the body or none of it, wherever the script is cut short', () => {
    const script = remoteScript({}, 'echo ran\necho more');
    for (let length = 0; length <= script.length; length++) {
      // Cut inside the marker line, before its redirection, the marker itself lands on stdout: never any of the body.
      const { stdout } = runAsSshd(remoteCommand(), script.slice(0, length));
      expect(['', 'ran\nmore\n']).toContain(stdout.replace(new RegExp(`^${PGID_MARKER}\\d*\\n`), ''));
    }
  });

  it('give the body /dev/null as stdin', () => {
    expect(runAsSshd(remoteCommand(), remoteScript({}, 'cat; echo done')).stdout).toBe('done\n');
  });
});

describe('killGroupCommand', () => {
  it('TERMs the whole group, background children included', async () => {
    const victim = spawn('setsid', ['-w', '/bin/sh', '-c', 'sleep 300 & echo $!; wait'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const child = Number(await new Promise<string>((resolve) => victim.stdout?.once('data', (chunk: Buffer) => resolve(chunk.toString()))));
    const group = Number(spawnSync('ps', ['-o', 'pgid=', '-p', String(child)], { encoding: 'utf8' }).stdout.trim());
    const exited = new Promise((resolve) => victim.once('exit', resolve));
    expect(spawnSync('/bin/sh', ['-c', killGroupCommand(group, 300)]).status).toBe(0);
    await exited;
    expect(isGone(child)).toBe(true);
  });

  it('KILLs a group that ignores TERM', async () => {
    const victim = spawn('setsid', ['-w', '/bin/sh', '-c', "trap '' TERM; sleep 300 & echo $!; wait"], { stdio: ['ignore', 'pipe', 'ignore'] });
    const child = Number(await new Promise<string>((resolve) => victim.stdout?.once('data', (chunk: Buffer) => resolve(chunk.toString()))));
    const group = Number(spawnSync('ps', ['-o', 'pgid=', '-p', String(child)], { encoding: 'utf8' }).stdout.trim());
    const exited = new Promise<NodeJS.Signals | null>((resolve) => victim.once('exit', (_, signal) => resolve(signal)));
    spawnSync('/bin/sh', ['-c', killGroupCommand(group, 300)]);
    expect(await exited).toBe('SIGKILL');
  });

  it('succeeds quietly when the group is already gone', () => {
    expect(spawnSync('/bin/sh', ['-c', killGroupCommand(2 ** 22 + 12345, 100)]).status).toBe(0);
  });

  it('refuses anything but a process group id', () => {
    for (const pgid of [0, 1, -5, 1.5, Number.NaN]) expect(() => killGroupCommand(pgid, 100)).toThrow(/not a process group id/);
  });
});

describe('PgidReader', () => {
  function reader() {
    const seen: { pgid?: number; passed: string } = { passed: '' };
    const r = new PgidReader(
      (pgid) => (seen.pgid = pgid),
      (chunk) => (seen.passed += chunk.toString()),
    );
    return { r, seen };
  }

  it('takes the pid from the marker line, drops login noise before it and passes the rest on', () => {
    const { r, seen } = reader();
    r.write(Buffer.from('bashrc says hi\nrungate-'));
    r.write(Buffer.from('pgid=4242'));
    expect(seen.pgid).toBeUndefined();
    r.write(Buffer.from('\nwarning: x\n'));
    r.write(Buffer.from('more'));
    r.end();
    expect(seen).toEqual({ pgid: 4242, passed: 'warning: x\nmore' });
  });

  it('passes everything on when no marker comes within the search limit', () => {
    const { r, seen } = reader();
    const noise = 'x'.repeat(PGID_SEARCH_LIMIT + 1);
    r.write(Buffer.from(noise));
    r.write(Buffer.from(`${PGID_MARKER}1\n`));
    expect(seen).toEqual({ passed: `${noise}${PGID_MARKER}1\n` });
  });

  it('passes held bytes on when the stream ends without a marker', () => {
    const { r, seen } = reader();
    r.write(Buffer.from('sh: cannot exec'));
    r.end();
    expect(seen).toEqual({ passed: 'sh: cannot exec' });
  });
});
