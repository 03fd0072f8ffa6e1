import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { RUNGATE_BIN, createRunbookRepository, createTestDatabase, freePort, type TestDatabase } from '@rungate/testing';
import { buildProgram } from '../apps/cli/src/program';
import { embeddedEnv, mcpClient, newToken, runCli, startServe, type RunningServe } from './support/stack';

/** Every command path of the program itself — hidden ones included — so a new verb is walked too. */
function commandPaths(command: CommandUnknownOpts, path: string[] = []): string[][] {
  return [path, ...command.commands.flatMap((sub) => commandPaths(sub, [...path, sub.name()]))];
}

const COMMANDS = commandPaths(buildProgram());

function emptyDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

describe('rungate --help on every verb and sub-verb (the built CLI)', () => {
  let cwd: string;

  beforeAll(() => {
    cwd = emptyDir('rg-help-');
  });

  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  it('walks the whole command tree', () => {
    expect(COMMANDS.map((c) => c.join(' '))).toEqual(expect.arrayContaining(['', 'serve', 'demo-target', 'keys generate', 'token create', 'token revoke', 'audit verify', 'policy explain', 'completion', '__complete']));
  });

  it.each(COMMANDS.flatMap((path) => [[[...path, '--help'].join(' ')], [[...path, '-h'].join(' ')]]))('rungate %s prints usage on stdout, exits 0 and does nothing', async (line) => {
    const args = line.split(' ');
    const { code, stdout, stderr } = await runCli(args, { cwd });
    const path = args.slice(0, -1).join(' ');
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toMatch(new RegExp(`^Usage: rungate${path ? ` ${path}` : ''} `));
    // Nothing made: no keys, no data directory, no database, in the working directory.
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('keys generate --help writes no key, even where --out points', async () => {
    const out = join(cwd, 'keys');
    expect(await runCli(['keys', 'generate', '--out', out, '--help'], { cwd })).toMatchObject({ code: 0 });
    expect(readdirSync(cwd)).toEqual([]);
  });
});

describe('rungate completion', () => {
  it('completes in bash from the script it prints, asking the command being completed', async () => {
    const script = await runCli(['completion']);
    expect(script.code).toBe(0);
    const complete = (words: string[]) =>
      execFileSync('bash', ['-c', `eval "$(cat)"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _rungate_complete "$0"; printf '%s\\n' "\${COMPREPLY[@]}"`, RUNGATE_BIN], {
        input: script.stdout,
        encoding: 'utf8',
      })
        .trim()
        .split('\n');
    expect(complete(['rungate', 'tok'])).toEqual(['token']);
    expect(complete(['rungate', 'token', 'create', '--ag'])).toEqual(['--agent']);
    expect(complete(['rungate', 'run', 'executor-s'])).toEqual(['executor-ssh', 'executor-shell']);
  });
});

describe('rungate usage errors: one line naming what is wrong, exit 2', () => {
  const cases: [string[], RegExp][] = [
    [['token', 'create', '--user', 'a', '--agent', 'b', '--bogus'], /^rungate token create: unknown option '--bogus'/],
    [['audit', 'verify', '--strem'], /^rungate audit verify: unknown option '--strem' \(Did you mean --stream\?\)/],
    [['token', 'create', '--agent', 'b'], /^rungate token create: required option '--user <user>' not specified/],
    [['token', 'create', '--user', 'a'], /^rungate token create: name the agent the token is for \(--agent NAME\), or make a human's own token \(--human\)$/m],
    [['token', 'revoke'], /^rungate token revoke: missing required argument 'id'/],
    [['policy', 'explain', '--user', 'a', '--runbook', 'r'], /^rungate policy explain: required option '--connection <name>' not specified/],
    [['serve', '--port', 'eighty'], /^rungate serve: option '--port <port>' argument 'eighty' is invalid/],
    [['token', 'create', '--user', 'a', '--agent', 'b', '--ttl', 'forever'], /^rungate token create: option '--ttl <duration>' argument 'forever' is invalid/],
    [['audit', 'tail', '--interval', '10ms'], /^rungate audit tail: option '--interval <duration>' argument '10ms' is invalid/],
    [['run', 'gatewy'], /^rungate run: command-argument value 'gatewy' is invalid for argument 'service'/],
    [['token', 'list', '--data-dir', 'x', '--database', 'postgres://x'], /^rungate token list: option '--database <url>' cannot be used with option '--data-dir <dir>'/],
    [['lint', 'a', 'b'], /^rungate lint: too many arguments/],
    [['frobnicate'], /^rungate: unknown command 'frobnicate'/],
    [['audit', 'verify', '--from', 'yesterday', '--data-dir', '.'], /^rungate audit verify: --from takes a stream sequence or a time/],
  ];

  it.each(cases)('rungate %j', async (args, message) => {
    const cwd = emptyDir('rg-usage-');
    try {
      const { code, stdout, stderr } = await runCli(args, { cwd });
      expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
      expect(stderr).toMatch(message);
      expect(stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(readdirSync(cwd)).toEqual([]);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('a command group without its sub-command prints its usage on stderr, exit 2', async () => {
    const { code, stderr } = await runCli(['token']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^Usage: rungate token /);
    expect(stderr).toMatch(/create \[options\]/);
  });
});

const ECHO = `# @description Say something back
# @readonly
echo '{{ .text | default "hi" | maxlength 64 }}'
`;

describe('agent tokens against the embedded default (rungate serve --data-dir)', () => {
  let dir: string;
  let dataDir: string;
  let configFile: string;
  let serve: RunningServe | undefined;
  const staticToken = newToken();
  const expiredToken = newToken();
  const operator = `operator:${userInfo().username}`;
  const cli = (...args: string[]) => runCli(args);
  const start = async () => {
    serve = await startServe('serve', ['--config', configFile, '--port', '0', '--data-dir', dataDir]);
    return serve;
  };
  const stop = async () => {
    await serve?.process.stop();
    serve = undefined;
  };
  const tools = async (url: string, token: string) => {
    const client = await mcpClient(url, token);
    try {
      return (await client.listTools()).tools.map((t) => t.name);
    } finally {
      await client.close();
    }
  };
  const refusal = async (url: string, token: string) => {
    const res = await fetch(`${url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${token}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
    });
    return { status: res.status, reason: /error_description="([^"]*)"/.exec(res.headers.get('www-authenticate') ?? '')?.[1] };
  };

  beforeAll(async () => {
    dir = emptyDir('rg-cli-tokens-');
    dataDir = join(dir, 'data');
    const repo = createRunbookRepository({ 'shell/echo.runbook.sh': ECHO });
    configFile = join(dir, 'rungate.yaml');
    writeFileSync(
      configFile,
      `repositories:
  - name: ops
    url: ${repo.dir}
    pollInterval: 1s
connections:
  - name: local-shell
    type: shell
users:
  - name: alice@example.com
    groups: [engineering, auditors]
tokens:
  - sha256: "${staticToken.sha256}"
    user: alice@example.com
    agent: ci-bot
    expiresAt: 2999-01-01T00:00:00Z
    scopes: [audit:read]
  - sha256: "${expiredToken.sha256}"
    user: alice@example.com
    agent: old-bot
    expiresAt: 2020-01-31T00:00:00Z
rules:
  - name: engineering-shell
    groups: [engineering]
    connections: [local-shell]
    runbooks: ["ops/shell/**"]
`,
    );
    await start();
  });

  afterAll(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses an expired static token with the 401 an expired stored token gets, and accepts one not yet expired', async () => {
    const { url } = serve as RunningServe;
    expect(await tools(url, staticToken.token)).toEqual(['ops.shell.echo']);
    expect(await refusal(url, expiredToken.token)).toEqual({ status: 401, reason: 'token expired' });
  });

  it('creates a token through the running serve\'s admin socket (0600) that works at once, lists it, and revokes it at once', async () => {
    const { url } = serve as RunningServe;
    const socket = statSync(join(dataDir, 'admin.sock'));
    expect(socket.isSocket()).toBe(true);
    expect(socket.mode & 0o777).toBe(0o600);

    const created = await cli('token', 'create', '--data-dir', dataDir, '--user', 'alice@example.com', '--agent', 'cursor', '--ttl', '1h', '--runbooks', 'ops/shell/*');
    expect(created).toMatchObject({ code: 0, stderr: expect.stringMatching(/^created tok_[0-9a-f]+ for alice@example.com \(agent cursor\)/) });
    const token = created.stdout.trim();
    expect(token).toMatch(/^rg_[A-Za-z0-9_-]{43}$/);
    expect(await tools(url, token)).toEqual(['ops.shell.echo']);

    const id = /created (tok_[0-9a-f]+)/.exec(created.stderr)?.[1] as string;
    expect((await cli('token', 'list', '--data-dir', dataDir)).stdout).toMatch(new RegExp(`^${id}\\s+active\\s+alice@example.com\\s+cursor\\s+expires \\S+\\s+runbooks=ops/shell/\\*$`, 'm'));
    expect(await cli('token', 'revoke', '--data-dir', dataDir, id)).toMatchObject({ code: 0, stdout: `revoked ${id}\n` });
    expect(await refusal(url, token)).toEqual({ status: 401, reason: 'token revoked' });
    expect(await cli('token', 'revoke', '--data-dir', dataDir, 'tok_000000000000')).toMatchObject({ code: 1, stderr: expect.stringContaining('no token tok_000000000000') });
  });

  it('makes a human\'s own token with --human (client cli unless --agent names one), listed as human, which serve\'s /v1/runs authenticates', async () => {
    const { url } = serve as RunningServe;
    const created = await cli('token', 'create', '--data-dir', dataDir, '--user', 'alice@example.com', '--human', '--ttl', '1h');
    expect(created).toMatchObject({ code: 0, stderr: expect.stringMatching(/^created tok_[0-9a-f]+ for alice@example.com's own \(human, client cli; it may approve held runs\)/) });
    const id = /created (tok_[0-9a-f]+)/.exec(created.stderr)?.[1] as string;
    expect((await cli('token', 'list', '--data-dir', dataDir)).stdout).toMatch(new RegExp(`^${id}\\s+active\\s+alice@example.com\\s+cli\\s+expires \\S+\\s+human$`, 'm'));
    // The approver API is served in this way of running too: the edge checks the token and the body before policy is asked.
    const env = { ...process.env, RUNGATE_GATEWAY_URL: url, RUNGATE_TOKEN: created.stdout.trim() };
    expect(await runCli(['reject', 'some-run', '--reason', ''], { env })).toMatchObject({ code: 2, stderr: expect.stringContaining('BAD_REQUEST: reason is required') });
    expect(await runCli(['runs', '--pending'], { env: { ...env, RUNGATE_TOKEN: 'rg_unknown' } })).toMatchObject({ code: 1, stderr: 'rungate runs: the gateway refused: UNAUTHENTICATED: unknown or revoked token\n' });
  });

  it('refuses a token for a user serve does not know, since it could never authenticate', async () => {
    const refused = await cli('token', 'create', '--data-dir', dataDir, '--user', 'mallory@example.com', '--agent', 'x');
    // Input the operator must change: BAD_REQUEST, which exits 2 as a usage error does (ERROR_EDGES).
    expect(refused).toMatchObject({ code: 2, stdout: '', stderr: expect.stringMatching(/unknown user mallory@example.com/) });
  });

  it('refuses to open the data directory while serve holds it, naming serve', async () => {
    const verify = await cli('audit', 'verify', '--data-dir', dataDir);
    expect(verify).toMatchObject({ code: 1, stderr: expect.stringMatching(/is in use by `rungate serve` \(pid \d+/) });
  });

  it('with serve stopped, opens the data directory itself; serve then accepts that token, and every change is in the audit log', async () => {
    await stop();
    const listed = await cli('token', 'list', '--data-dir', dataDir);
    expect(listed).toMatchObject({ code: 0, stdout: expect.stringMatching(/^tok_[0-9a-f]+\s+revoked\s+alice@example.com\s+cursor/m) });
    const created = await cli('token', 'create', '--data-dir', dataDir, '--user', 'alice@example.com', '--agent', 'offline');
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    const offlineId = /created (tok_[0-9a-f]+)/.exec(created.stderr)?.[1] as string;
    expect(await cli('audit', 'verify', '--data-dir', dataDir)).toMatchObject({ code: 0, stdout: expect.stringMatching(/^intact: \d+ events/) });

    const { url, auditUrl } = await start();
    expect(await tools(url, token)).toEqual(['ops.shell.echo']);
    const search = await runCli(['audit', 'search', '--url', auditUrl, '--type', 'audit.admin.token.*', '--json'], { env: embeddedEnv({ RUNGATE_TOKEN: staticToken.token }) });
    expect(search.code).toBe(0);
    const events = search.stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; source: string; actor: { user: string }; details: { tokenId: string; agent: string; via: string } });
    expect(events.map((e) => [e.type, e.details.agent, e.details.via])).toEqual([
      ['audit.admin.token.created', 'cursor', 'admin-socket'],
      ['audit.admin.token.revoked', 'cursor', 'admin-socket'],
      ['audit.admin.token.created', 'cli', 'admin-socket'],
      ['audit.admin.token.created', 'offline', 'data-dir'],
    ]);
    expect(events.every((e) => e.actor.user === operator && e.source === 'cli')).toBe(true);
    // The human token's record says so; an agent's carries no such key.
    expect(events.map((e) => (e.details as { human?: boolean }).human)).toEqual([undefined, undefined, true, undefined]);
    expect(events[3]?.details.tokenId).toBe(offlineId);
  });

  it('reads the audit trail only with a token made with --scope audit:read, though its user is an auditor', async () => {
    const { auditUrl } = serve as RunningServe;
    const unscoped = (await cli('token', 'create', '--data-dir', dataDir, '--user', 'alice@example.com', '--agent', 'claude-code')).stdout.trim();
    const refused = await runCli(['audit', 'search', '--url', auditUrl, '--since', '1h'], { env: embeddedEnv({ RUNGATE_TOKEN: unscoped }) });
    expect(refused).toMatchObject({ code: 1, stderr: expect.stringMatching(/FORBIDDEN: this token may not read the audit trail: it was not given the audit:read scope/) });

    const created = await cli('token', 'create', '--data-dir', dataDir, '--user', 'alice@example.com', '--agent', 'rungate-cli', '--scope', 'audit:read');
    expect(created.code).toBe(0);
    const id = /created (tok_[0-9a-f]+)/.exec(created.stderr)?.[1] as string;
    expect((await cli('token', 'list', '--data-dir', dataDir)).stdout).toMatch(new RegExp(`^${id}\\s+active\\s+alice@example.com\\s+rungate-cli\\s+expires \\S+\\s+scopes=audit:read$`, 'm'));
    const search = await runCli(['audit', 'search', '--url', auditUrl, '--outcome', 'denied', '--code', 'audit-read-refused', '--json'], { env: embeddedEnv({ RUNGATE_TOKEN: created.stdout.trim() }) });
    expect(search.code).toBe(0);
    const [denied] = search.stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; actor: { agent: string } });
    expect(denied).toMatchObject({ type: 'audit.attempt.denied', actor: { agent: 'claude-code' } });
    expect(await cli('token', 'create', '--data-dir', dataDir, '--user', 'alice@example.com', '--agent', 'x', '--scope', 'audit:write')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/option '--scope <scope...>' argument 'audit:write' is invalid/),
    });
  });

  it('refuses a data directory that holds no embedded database instead of making an empty one', async () => {
    const nowhere = join(dir, 'typo');
    expect(await cli('token', 'list', '--data-dir', nowhere)).toMatchObject({ code: 2, stderr: expect.stringContaining(`no embedded database in ${nowhere}`) });
    expect(() => statSync(nowhere)).toThrow();
  });
});

describe('agent tokens in PostgreSQL (DATABASE_URL) when the audit stream is unreachable', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('rgcli_tokens');
  });

  afterAll(async () => db.drop());

  it('undoes the change it could not audit, and says so', async () => {
    const env = embeddedEnv({ DATABASE_URL: db.url, NATS_URL: `nats://127.0.0.1:${await freePort()}` });
    const created = await runCli(['token', 'create', '--user', 'alice@example.com', '--agent', 'unaudited'], { env });
    expect(created).toMatchObject({ code: 1, stdout: '', stderr: expect.stringMatching(/the change could not be audited \(NATS is unreachable.*\); it was undone/) });
    const listed = await runCli(['token', 'list'], { env });
    expect(listed.stdout).toMatch(/^tok_[0-9a-f]+\s+revoked\s+alice@example.com\s+unaudited/m);
  });
});
