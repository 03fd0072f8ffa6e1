import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { tokenSha256 } from '@rungate/policy';
import { eventually, freePorts, RUNGATE_BIN, serviceArgs, startProcess, type ServiceProcess } from '@rungate/testing';
import { generateTicketKeyPair } from '@rungate/tickets';

/** A runbook that changes nothing, for suites about everything but the run. */
export const READ_ONE_RUNBOOK = `-- @description Get one row
-- @readonly
SELECT {{ .id | type "number" }} AS id;
`;

export const SERVICES = ['git-sync', 'policy', 'executor-postgres', 'audit', 'gateway'] as const;

/** The two ways to run: a process per service over NATS, or `rungate serve` in one process. */
export type Transport = 'nats' | 'in-process';
export const TRANSPORTS: readonly Transport[] = ['nats', 'in-process'];

export interface StackOptions {
  /** rungate.yaml body without the parts the stack fills in (keys, ports, cache). */
  config: (paths: { keysDir: string }) => string;
  env: Record<string, string>;
  /** Default nats. In-process runs `rungate serve --config …` with the same file and env. */
  transport?: Transport;
  /** The services started over NATS; default SERVICES (executor-postgres as the only executor). */
  services?: readonly string[];
  /** More `gateway:` settings beside the host and port the stack picks, e.g. `{ callTimeout: '5s' }`. */
  gateway?: Record<string, string | number>;
  /** More `audit:` settings beside the port the stack picks, e.g. `{ attemptLimit: '{ events: 5, window: 2s }' }`; `deliver` is `new` unless given. */
  audit?: Record<string, string | number>;
  /** How long the services may take to be ready; default 90 s (five services took 50 s to print their first line on a loaded 2-core machine). */
  readyTimeoutMs?: number;
  /** Node.js flags for every Rungate process, e.g. `--cpu-prof` (benchmarks). */
  nodeArgs?: readonly string[];
}

export interface Stack {
  transport: Transport;
  gatewayUrl: string;
  /** The audit service's HTTP (probes, query API); undefined in-process, where no audit service runs. */
  auditUrl?: string;
  /** The audit query API (GET /audit/events): the audit service over NATS, serve's own in-process. */
  auditApiUrl: string;
  configFile: string;
  env: NodeJS.ProcessEnv;
  processes: ServiceProcess[];
  logs(): string;
  stop(): Promise<void>;
}

export function newToken(): { token: string; sha256: string } {
  const token = `rg_${randomBytes(24).toString('base64url')}`;
  return { token, sha256: tokenSha256(token) };
}

/** Starts every service as its own process (`rungate run <service>`) on free ports. */
export async function startStack(options: StackOptions): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), 'rg-stack-'));
  const keys = generateTicketKeyPair();
  writeFileSync(join(dir, 'policy.ed25519'), keys.privatePem, { mode: 0o600 });
  writeFileSync(join(dir, 'policy.ed25519.pub'), keys.publicPem);
  const [gatewayPort, gitSyncPort, auditPort] = (await freePorts(3)) as [number, number, number];
  const configFile = join(dir, 'rungate.yaml');
  writeFileSync(
    configFile,
    `${options.config({ keysDir: dir })}
gateway: { host: 127.0.0.1, port: ${gatewayPort}${Object.entries(options.gateway ?? {}).map(([key, value]) => `, ${key}: ${value}`).join('')} }
gitSync: { cacheDir: ${join(dir, 'git')}, port: ${gitSyncPort} }
audit: { port: ${auditPort}${Object.entries({ deliver: 'new', ...options.audit }).map(([key, value]) => `, ${key}: ${value}`).join('')} }
tickets:
  signingKey: file:${join(dir, 'policy.ed25519')}
  verifyKeys: [file:${join(dir, 'policy.ed25519.pub')}]
`,
  );
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env, RUNGATE_CONFIG: configFile };
  const transport = options.transport ?? 'nats';
  const nodeArgs = options.nodeArgs ?? [];
  const processes =
    transport === 'nats'
      ? (options.services ?? SERVICES).map((service) => startProcess(service, process.execPath, [...nodeArgs, ...serviceArgs(service)], env))
      : [startProcess('serve', process.execPath, [...nodeArgs, RUNGATE_BIN, 'serve', '--config', configFile, '--data-dir', join(dir, 'data')], env)];
  const stack: Stack = {
    transport,
    gatewayUrl: `http://127.0.0.1:${gatewayPort}`,
    auditUrl: transport === 'nats' ? `http://127.0.0.1:${auditPort}` : undefined,
    auditApiUrl: `http://127.0.0.1:${auditPort}`,
    configFile,
    env,
    processes,
    logs: () => processes.map((p) => `--- ${p.name}\n${p.output()}`).join('\n'),
    stop: async () => {
      await Promise.all(processes.map((p) => p.stop()));
    },
  };
  try {
    await eventually(async () => {
      const dead = processes.find((p) => p.child.exitCode !== null);
      if (dead) throw new Error(`${dead.name} exited: ${dead.output()}`);
      for (const url of [stack.gatewayUrl, ...(stack.auditUrl ? [stack.auditUrl] : [])]) {
        const res = await fetch(`${url}/readyz`);
        if (res.status !== 200) throw new Error(`${url} not ready: ${await res.text()}`);
      }
    }, options.readyTimeoutMs ?? 90_000);
  } catch (error) {
    await stack.stop();
    throw new Error(`${(error as Error).message}\n${stack.logs()}`);
  }
  return stack;
}

export async function mcpClient(gatewayUrl: string, token: string): Promise<Client> {
  const client = new Client({ name: 'rungate-e2e', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${gatewayUrl}/mcp`), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  return client;
}

/** A client of the stack's gateway once the catalog is loaded: the caller sees at least `tools` tools. */
export async function catalogClient(stack: Stack, token: string, tools = 1): Promise<Client> {
  return eventually(async () => {
    const c = await mcpClient(stack.gatewayUrl, token);
    if ((await c.listTools()).tools.length < tools) {
      await c.close();
      throw new Error('catalog not loaded yet');
    }
    return c;
  }).catch((error: Error) => {
    throw new Error(`${error.message}\n${stack.logs()}`);
  });
}

export type CallResult = { isError?: boolean; content: { type: string; text?: string }[]; structuredContent?: Record<string, unknown> };

/** The text a tool call answered with, its parts joined. */
export function resultText(result: CallResult): string {
  return result.content.map((c) => c.text ?? '').join('\n');
}

/** The run id a result's text names ("… — run <id>…"), if any. */
export function runIdOf(result: CallResult): string | undefined {
  return /run ([0-9a-f-]{36})/.exec(resultText(result))?.[1];
}

export interface RunningServe {
  process: ServiceProcess;
  /** The gateway, e.g. http://127.0.0.1:41234 (MCP on /mcp). */
  url: string;
  /** The audit query API, as the banner prints it. */
  auditUrl: string;
  /** The demo agent's token, with the demo. */
  token?: string;
}

/** The environment `rungate serve` gets in these tests: the embedded default, nothing inherited that would point it elsewhere. */
export function embeddedEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['DATABASE_URL'];
  delete env['RUNGATE_CONFIG'];
  delete env['PORT'];
  return { ...env, ...extra };
}

/** `rungate serve ARGS` as a real process, once its banner is out. */
export async function startServe(name: string, args: string[], env: NodeJS.ProcessEnv = embeddedEnv()): Promise<RunningServe> {
  const server = startProcess(name, process.execPath, [RUNGATE_BIN, 'serve', ...args], env);
  try {
    return await eventually(async () => {
      if (server.child.exitCode !== null) throw new Error(`serve exited (${server.child.exitCode}): ${server.output()}`);
      const out = server.output();
      const endpoint = /MCP endpoint\s+(http:\/\/127\.0\.0\.1:\d+)\/mcp/.exec(out);
      const audit = /audit query API\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (!endpoint || !audit || !out.includes('Stop with Ctrl-C')) throw new Error(`no banner yet:\n${out}`);
      const bearer = /Demo identity/.test(out) ? /Authorization: Bearer (rg_[A-Za-z0-9_-]+)/.exec(out)?.[1] : undefined;
      return { process: server, url: endpoint[1] as string, auditUrl: audit[1] as string, ...(bearer ? { token: bearer } : {}) };
    }, 60_000);
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/** A CLI command run to its end: exit code, stdout and stderr apart. */
export async function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [RUNGATE_BIN, ...args], { env: options.env ?? embeddedEnv(), cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, stdout, stderr };
}

/**
 * Kills one of the stack's services (SIGKILL: a crash, no goodbye) and starts it again with the
 * same command and environment, in its place in `stack.processes`; resolves once it is ready
 * (`/readyz` for the HTTP services, its "started" line for the others).
 */
export async function restartService(stack: Stack, name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<ServiceProcess> {
  const index = stack.processes.findIndex((p) => p.name === name);
  const old = stack.processes[index];
  if (!old) throw new Error(`the stack runs no ${name}`);
  old.child.kill(signal);
  await old.exited;
  const replacement = startProcess(name, process.execPath, serviceArgs(name), stack.env);
  stack.processes[index] = replacement;
  const url = name === 'audit' ? stack.auditUrl : name === 'gateway' ? stack.gatewayUrl : undefined;
  await eventually(async () => {
    if (replacement.child.exitCode !== null) throw new Error(`${name} exited: ${replacement.output()}`);
    if (url) {
      const res = await fetch(`${url}/readyz`);
      if (res.status !== 200) throw new Error(`${name} not ready: ${await res.text()}`);
    } else if (!replacement.output().includes(`${name} started`)) throw new Error(`${name} not started yet`);
  }, 60_000);
  return replacement;
}
