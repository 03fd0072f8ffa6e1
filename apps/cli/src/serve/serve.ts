import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError, loadConfig, type RungateConfig } from '@rungate/config';
import { InProcessBroker, InProcessBus, InProcessRpcServer } from '@rungate/messaging';
import { DatabaseRunLedger, LocalAuditLog, openDatabase, openEmbeddedDatabase, pgliteTemplate } from '@rungate/persistence';
import { ConfigHolder, ConfigWatcher, Readiness, startService, type RunningService, type ServiceContext, type ServiceDefinition } from '@rungate/runtime';
import { auditService } from '@rungate/service-audit';
import { executorPostgresService } from '@rungate/service-executor-postgres';
import { executorKubernetesService } from '@rungate/service-executor-kubernetes';
import { executorMysqlService } from '@rungate/service-executor-mysql';
import { executorShellService } from '@rungate/service-executor-shell';
import { executorSshService } from '@rungate/service-executor-ssh';
import { gatewayService } from '@rungate/service-gateway';
import { gitSyncService } from '@rungate/service-git-sync';
import { policyService } from '@rungate/service-policy';
import type { DataSource } from 'typeorm';
import { option } from '../commands/args';
import { DEMO_AGENT, DEMO_SEED_SQL, DEMO_USER, prepareDemo, ticketKeys } from './demo';
import { PgWireBridge } from './pg-wire';

/**
 * The initialized-cluster template `npm run build` leaves in dist/pglite
 * (scripts/pglite-template.js); this file is dist/apps/cli/src/serve/serve.js.
 */
function templatePath(): string | undefined {
  try {
    let dir = dirname(require.resolve('@electric-sql/pglite'));
    while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
    const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
    return resolve(__dirname, '..', '..', '..', '..', 'pglite', `template-${version}.tar`);
  } catch {
    return undefined;
  }
}

const USAGE = 'usage: rungate serve [--config rungate.yaml] [--port 8080] [--audit-port 8082] [--host 127.0.0.1] [--data-dir .rungate]\n';

/** Progress on stderr while starting, so stdout carries only the banner. */
class Progress {
  private readonly started = Date.now();
  private step = Date.now();

  constructor(private readonly quiet: boolean) {}

  say(text: string): void {
    if (this.quiet) return;
    const now = Date.now();
    process.stderr.write(`  ${text} (${((now - this.step) / 1000).toFixed(1)}s)\n`);
    this.step = now;
  }

  get elapsed(): string {
    return ((Date.now() - this.started) / 1000).toFixed(1);
  }
}

/** Tickets need a key pair; one process can make its own when the configuration names none. */
function withTicketKeys(config: RungateConfig, dataDir: string): RungateConfig {
  if (config.tickets.signingKey) return config;
  const keys = ticketKeys(resolve(dataDir, 'keys'));
  return { ...config, tickets: { ...config.tickets, signingKey: `file:${keys.signingKey}`, verifyKeys: [...config.tickets.verifyKeys, `file:${keys.verifyKey}`] } };
}

/** The configuration as served: the file's, with a generated ticket key pair when it has none. */
class ServedConfig extends ConfigHolder {
  constructor(
    config: RungateConfig,
    private readonly dataDir: string,
  ) {
    super(withTicketKeys(config, dataDir));
  }

  override replace(next: RungateConfig): void {
    super.replace(withTicketKeys(next, this.dataDir));
  }
}

interface DemoTarget {
  url: string;
  close(): Promise<void>;
}

/**
 * The demo's PostgreSQL: an embedded PGlite behind a wire-protocol endpoint on loopback, in a
 * child process (`rungate demo-target`) — it is the demo's target, not a Rungate service, and
 * its own process lets its start-up run beside ours on another core. It ends with our stdin.
 */
async function startDemoTarget(dir: string, template: string | undefined): Promise<DemoTarget> {
  const templateArgs = template ? ['--template', template] : [];
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1] as string, 'demo-target', '--dir', dir, ...templateArgs], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolvePort, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /^listening (\d+)$/m.exec(out);
      if (match) resolvePort(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`the demo database exited (${code}) before it listened`)));
    child.once('error', reject);
  });
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.stdin.end();
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** `rungate demo-target --dir DIR`: the process behind startDemoTarget. */
export async function demoTargetCommand(args: string[]): Promise<number | undefined> {
  const dir = option(args, '--dir');
  if (!dir) {
    process.stderr.write('usage: rungate demo-target --dir DIR (started by rungate serve)\n');
    return 2;
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const template = option(args, '--template');
  const loadDataDir = pgliteTemplate(resolve(dir), template && resolve(template));
  const db = await PGlite.create(resolve(dir), loadDataDir ? { loadDataDir } : {});
  const seeded = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'orders'`);
  if (seeded.rows[0]?.n === 0) await db.exec(DEMO_SEED_SQL);
  const bridge = new PgWireBridge(db);
  const port = await bridge.listen(0, '127.0.0.1');
  process.stdout.write(`listening ${port}\n`);
  const stop = () => {
    void bridge
      .close()
      .then(() => db.close())
      .finally(() => process.exit(0));
  };
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
  process.once('SIGTERM', stop);
  process.once('SIGINT', () => undefined); // the parent decides when the demo ends
  return undefined;
}

export interface Served {
  url: string;
  /** The audit query API (GET /audit/events), for `rungate audit search --url`. */
  auditUrl?: string;
  close(): Promise<void>;
}

/**
 * Every service in this process over the in-process transport — the same subjects, handlers
 * and JSON payloads as over NATS — with the audit chain committed to Rungate's database
 * (PGlite under the data directory, or DATABASE_URL) before anything runs.
 */
export async function serve(options: {
  configFile?: string;
  port?: number;
  auditPort?: number;
  host?: string;
  dataDir: string;
  quiet?: boolean;
}): Promise<Served & { token?: string }> {
  const progress = new Progress(options.quiet ?? false);
  const dataDir = resolve(options.dataDir);
  const closers: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const closer of closers.reverse()) await closer().catch(() => undefined);
  };
  try {
    const demo = options.configFile ? undefined : prepareDemo(dataDir);
    if (demo) progress.say(`demo runbooks in ${demo.repository}`);
    const configFile = resolve(options.configFile ?? (demo as { configFile: string }).configFile);
    const config = new ServedConfig(loadConfig(configFile), dataDir);
    const databaseUrl = process.env['DATABASE_URL'];
    const template = templatePath();
    const [db, target] = await Promise.all([
      databaseUrl ? openDatabase(databaseUrl) : openEmbeddedDatabase(resolve(dataDir, 'db'), template),
      demo ? startDemoTarget(demo.targetDir, template) : Promise.resolve(undefined),
    ]);
    closers.push(() => db.destroy());
    if (target) {
      closers.push(() => target.close());
      process.env['RUNGATE_DEMO_DATABASE_URL'] = target.url;
    }
    progress.say(`${databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `embedded database in ${resolve(dataDir, 'db')}`}${target ? ' and the demo database' : ''} ready`);

    const broker = new InProcessBroker();
    const audit = new LocalAuditLog(db);
    const ledger = new DatabaseRunLedger(db);
    const database = async (): Promise<DataSource> => db;
    const context = (service: string): ServiceContext => ({
      service,
      configFile: '', // one watcher for all, below
      config,
      bus: new InProcessBus(broker),
      audit,
      ledger,
      database,
      transport: () => new InProcessRpcServer(broker),
    });
    const gateway: ServiceDefinition = {
      ...gatewayService,
      http: (c) => ({ host: options.host ?? c.gateway.host, port: options.port ?? c.gateway.port }),
    };
    // Webhooks need a public address; the all-in-one mode polls its repositories instead.
    // The audit service serves the query API; the chain itself is written by LocalAuditLog.
    const auditQueries: ServiceDefinition = {
      ...auditService,
      http: (c) => ({ host: options.host ?? c.gateway.host, port: options.auditPort ?? c.audit.port }),
    };
    const definitions: ServiceDefinition[] = [
      { ...gitSyncService, http: undefined },
      policyService,
      auditQueries,
      executorPostgresService,
      executorMysqlService,
      executorShellService,
      executorSshService,
      executorKubernetesService,
      gateway,
    ];
    const services: RunningService[] = [];
    for (const definition of definitions) {
      const service = await startService(definition, context(definition.name));
      services.push(service);
      closers.push(() => service.close());
    }
    const watcher = new ConfigWatcher(config, configFile);
    watcher.start();
    closers.push(async () => watcher.stop());
    const url = services[services.length - 1]?.url as string;
    const auditUrl = services.find((service) => service.ctx.service === auditService.name)?.url;
    progress.say('services started');
    await waitUntilReady(services, 30_000);
    progress.say('runbook catalog loaded');
    return { url, auditUrl, close, token: demo?.token };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Ready when every service's own checks pass (the catalog loaded, the database reachable…). */
async function waitUntilReady(services: readonly RunningService[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let waiting: string[] = [];
  while (Date.now() < deadline) {
    waiting = [];
    for (const service of services) {
      const checks = await service.app.get(Readiness).evaluate();
      for (const [name, ok] of Object.entries(checks)) if (!ok) waiting.push(`${service.ctx.service}: ${name}`);
    }
    if (waiting.length === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not ready within ${timeoutMs / 1000}s, still waiting for ${waiting.join(', ')}`);
}

function banner(url: string, auditUrl: string | undefined, token: string | undefined, elapsed: string): string {
  const mcp = `${url}/mcp`;
  const bearer = token ? `Bearer ${token}` : 'Bearer <your agent token>';
  const mcpJson = JSON.stringify({ mcpServers: { rungate: { type: 'http', url: mcp, headers: { Authorization: bearer } } } }, null, 2);
  return `
Rungate is running (all-in-one${token ? ', demo' : ''}) — ready in ${elapsed}s

  MCP endpoint   ${mcp}
  Header         Authorization: ${bearer}
${token ? `  Demo identity  ${DEMO_USER} via agent ${DEMO_AGENT}; tools: demo.postgres.list_orders,
                 demo.postgres.set_order_status (try dryRun: true), demo.shell.disk_usage\n` : ''}
Connect a client:

  Claude Code
    claude mcp add --transport http rungate ${mcp} --header "Authorization: ${bearer}"

  MCP Inspector (command line)
    npx @modelcontextprotocol/inspector@2 --cli ${mcp} --transport http \\
      --header "Authorization: ${bearer}" --method tools/list

  mcp.json
${mcpJson.replace(/^/gm, '    ')}

Audit: every call is chained into the audit_events table before it runs.
${auditUrl ? `  RUNGATE_TOKEN=${token ?? "<an auditor's token>"} npx rungate audit search --url ${auditUrl} --since 1h\n` : ''}  npx rungate audit verify --data-dir <data dir>   (after Ctrl-C: one process at a time)
Stop with Ctrl-C.
`;
}

/** `rungate serve`: the one-command embedded default. */
export async function serveCommand(args: string[]): Promise<number | undefined> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const portArg = option(args, '--port') ?? process.env['PORT'];
  const port = portArg === undefined ? undefined : Number(portArg);
  const auditPortArg = option(args, '--audit-port');
  const auditPort = auditPortArg === undefined ? undefined : Number(auditPortArg);
  for (const [name, value, raw] of [['--port', port, portArg], ['--audit-port', auditPort, auditPortArg]] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 0 || value > 65535)) {
      process.stderr.write(`${name} must be a port number, not ${JSON.stringify(raw)}\n${USAGE}`);
      return 2;
    }
  }
  const configFile = option(args, '--config') ?? process.env['RUNGATE_CONFIG'];
  // Services log JSON lines; in one terminal only warnings and errors, unless asked.
  process.env['LOG_LEVEL'] ??= 'warn';
  process.stderr.write(`Starting Rungate (all-in-one)${configFile ? ` with ${configFile}` : ' with the bundled demo'}…\n`);
  const started = Date.now();
  let served: Awaited<ReturnType<typeof serve>>;
  try {
    served = await serve({ configFile, port, auditPort, host: option(args, '--host'), dataDir: option(args, '--data-dir') ?? '.rungate' });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
  process.stdout.write(banner(served.url, served.auditUrl, served.token, ((Date.now() - started) / 1000).toFixed(1)));
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${signal}: stopping…\n`);
    served.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  return undefined;
}
