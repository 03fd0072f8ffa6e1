import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { RungateConfig, loadConfig, readEnvironment } from '@rungate/config';
import { RungateError, InternalError } from '@rungate/contracts';
import { InProcessBroker, InProcessBus, InProcessRpcServer } from '@rungate/messaging';
import { LocalAuditLog, TokenAdmin, TokenStore, openDatabase, openEmbeddedDatabase, pgliteTemplate } from '@rungate/persistence';
import { IssuedTickets } from '@rungate/tickets';
import { ConfigHolder, ConfigWatcher, Readiness, startService, type ConfigOrigin, type RunningService, type ServiceContext, type ServiceDefinition } from '@rungate/runtime';
import { auditService } from '@rungate/service-audit';
import { executorPostgresService } from '@rungate/service-executor-postgres';
import { executorKubernetesService } from '@rungate/service-executor-kubernetes';
import { executorMysqlService } from '@rungate/service-executor-mysql';
import { executorShellService } from '@rungate/service-executor-shell';
import { executorSshService } from '@rungate/service-executor-ssh';
import { CONSOLE_PATH, ConsoleSessions, gatewayService } from '@rungate/service-gateway';
import { gitSyncService } from '@rungate/service-git-sync';
import { policyService } from '@rungate/service-policy';
import type { DataSource } from 'typeorm';
import { listenAdmin } from '../admin/admin-server';
import { DEFAULT_DATA_DIR } from '../commands/database';
import { UsageError } from '../cli/values';
import { AUDIT_PORT_OFFSET, listenPlan, type ListenFlags, type ListenPlan } from './ports';
import { embeddedDatabaseDir } from '../data-dir/embedded';
import { DataDirLock } from '../data-dir/lock';
import { DEMO_AGENT, DEMO_APPROVER, DEMO_HELD_TOOL, DEMO_SEED_SQL, DEMO_USER, prepareDemo, ticketKeys } from './demo';
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

/** rungate.yaml's own default for gitSync.cacheDir (relative to the working directory, so shared by every serve started there). */
const DEFAULT_GIT_CACHE = RungateConfig.shape.gitSync.parse(undefined).cacheDir;

/**
 * The configuration as served: the file's, with serve's listening address, a generated ticket
 * key pair when it names none, and the git cache under the data directory unless it names
 * its own. Applied again on every reload, so a reload cannot move what is already listening.
 */
class ServedConfig extends ConfigHolder {
  private listening?: { gateway: number; audit: number };
  private view?: { from: RungateConfig; served: RungateConfig };

  constructor(
    config: RungateConfig,
    private readonly dataDir: string,
    private readonly plan: ListenPlan,
  ) {
    super(ServedConfig.withServing(config, dataDir, plan));
  }

  private static withServing(config: RungateConfig, dataDir: string, plan: ListenPlan): RungateConfig {
    const keys = config.tickets.signingKey ? undefined : ticketKeys(resolve(dataDir, 'keys'));
    const defaultCache = config.gitSync.cacheDir === DEFAULT_GIT_CACHE;
    return {
      ...config,
      gateway: { ...config.gateway, host: plan.host, port: plan.gateway },
      audit: { ...config.audit, port: plan.audit },
      gitSync: defaultCache ? { ...config.gitSync, cacheDir: resolve(dataDir, 'git') } : config.gitSync,
      tickets: keys ? { ...config.tickets, signingKey: `file:${keys.signingKey}`, verifyKeys: [...config.tickets.verifyKeys, `file:${keys.verifyKey}`] } : config.tickets,
    };
  }

  override replace(next: RungateConfig, origin?: ConfigOrigin): void {
    super.replace(ServedConfig.withServing(next, this.dataDir, this.plan), origin);
  }

  /** The ports actually bound (with --port 0, known only now), so what services say about their own address is true. */
  listeningOn(ports: { gateway: number; audit: number }): void {
    this.listening = ports;
    this.view = undefined;
  }

  override get current(): RungateConfig {
    const from = super.current;
    if (!this.listening) return from;
    if (this.view?.from !== from) {
      // The console reads the audit API this serve runs, unless rungate.yaml names another.
      const auditUrl = from.console.auditUrl ?? `http://${reachable(from.gateway.host)}:${this.listening.audit}`;
      this.view = {
        from,
        served: {
          ...from,
          gateway: { ...from.gateway, port: this.listening.gateway },
          audit: { ...from.audit, port: this.listening.audit },
          console: { ...from.console, auditUrl },
        },
      };
    }
    return this.view.served;
  }
}

/** An address to reach a listener on from this process: a wildcard one is reached on loopback. */
function reachable(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
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
    child.once('exit', (code) => reject(new InternalError(`the demo database exited (${code}) before it listened`)));
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

/** `rungate demo-target --dir DIR` (hidden): the process behind startDemoTarget. Runs until serve closes its stdin. */
export async function demoTargetCommand(options: { dir: string; template?: string }): Promise<undefined> {
  const { PGlite } = await import('@electric-sql/pglite');
  const dir = resolve(options.dir);
  const loadDataDir = pgliteTemplate(dir, options.template && resolve(options.template));
  const db = await PGlite.create(dir, loadDataDir ? { loadDataDir } : {});
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

export interface ServeOptions extends ListenFlags {
  configFile?: string;
  dataDir: string;
  quiet?: boolean;
  /** Whom the printed web-console login link signs in (default: the demo's user; with a configuration, nobody). */
  consoleUser?: string;
}

export interface Served {
  url: string;
  /** The audit query API (GET /audit/events), for `rungate audit search --url`. */
  auditUrl?: string;
  /** The admin socket `rungate token …` talks to; absent when its path is too long for one. */
  adminSocket?: string;
  /** The demo database's address (a free loopback port), with the demo. */
  demoDatabase?: string;
  /** The demo agent's token, with the demo. */
  token?: string;
  /** The demo approver's own token, with the demo. */
  approverToken?: string;
  /** A one-time link to the web console (single use, console.loginLinkTtl), for `consoleUser`. */
  consoleLink?: { user: string; url: string };
  close(): Promise<void>;
}

/** Starts one service; a port already taken is named with the way out, not a bare EADDRINUSE. */
async function startServing(definition: ServiceDefinition, ctx: ServiceContext, what: string): Promise<RunningService> {
  try {
    return await startService(definition, ctx, { shutdownHooks: false });
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { address?: string; port?: number };
    if (failure.code !== 'EADDRINUSE') throw error;
    throw new RungateError(
      'SERVICE_UNAVAILABLE',
      `${failure.address ?? ''}:${failure.port ?? '?'} (${what}) is already in use — by another rungate serve? ` +
        `--port P moves every port (MCP on P, the audit API on P+${AUDIT_PORT_OFFSET}); --port 0 picks free ones`,
    );
  }
}

function portOf(url: string | undefined): number {
  return url ? Number(new URL(url).port) : 0;
}

/**
 * Every service in this process over the in-process transport — the same subjects, handlers
 * and JSON payloads as over NATS — with the audit chain committed to Rungate's database
 * (PGlite under the data directory, or DATABASE_URL) before anything runs. Holds the data
 * directory's lock from first to last, so a second serve (or a CLI command) on the same
 * directory is refused instead of opening the same embedded database.
 */
export async function serve(options: ServeOptions): Promise<Served> {
  const progress = new Progress(options.quiet ?? false);
  const dataDir = resolve(options.dataDir);
  const closers: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const closer of closers.reverse()) await closer().catch(() => undefined);
  };
  const lock = DataDirLock.acquire(dataDir, 'rungate serve');
  closers.push(async () => lock.release());
  try {
    const demo = options.configFile ? undefined : prepareDemo(dataDir);
    if (demo) progress.say(`demo runbooks in ${demo.repository}`);
    const configFile = resolve(options.configFile ?? (demo as { configFile: string }).configFile);
    const fileConfig = loadConfig(configFile);
    const plan = listenPlan(fileConfig, options);
    const config = new ServedConfig(fileConfig, dataDir, plan);
    const databaseUrl = readEnvironment().DATABASE_URL;
    const template = templatePath();
    const [db, target] = await Promise.all([
      databaseUrl ? openDatabase(databaseUrl) : openEmbeddedDatabase(embeddedDatabaseDir(dataDir), template),
      demo ? startDemoTarget(demo.targetDir, template) : Promise.resolve(undefined),
    ]);
    closers.push(() => db.destroy());
    if (target) {
      closers.push(() => target.close());
      process.env['RUNGATE_DEMO_DATABASE_URL'] = target.url;
    }
    progress.say(`${databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `embedded database in ${embeddedDatabaseDir(dataDir)}`}${target ? ` and the demo database (${new URL(target.url).host})` : ''} ready`);

    const broker = new InProcessBroker();
    // The embedded database is this process's alone (the data directory's lock): its chain has one writer.
    const audit = new LocalAuditLog(db, { soleWriter: !databaseUrl });
    const tokens = new TokenAdmin(new TokenStore(db), audit, 'admin-socket');
    // Set once the gateway runs; the admin socket listens before it.
    let consoleLinks: ((user: string) => Promise<{ user: string; url: string }>) | undefined;
    const admin = await listenAdmin(dataDir, {
      tokens,
      consoleLink: (user) => {
        if (!consoleLinks) throw new RungateError('SERVICE_UNAVAILABLE', 'rungate serve is still starting, or its web console is turned off (console.enabled)');
        return consoleLinks(user);
      },
      refuseUser: (user) =>
        config.current.users.some((u) => u.name === user) ? undefined : `unknown user ${user}: a token authenticates only a user in users: of ${configFile}`,
    });
    if ('unavailable' in admin) process.stderr.write(`  no admin socket: ${admin.unavailable}; token commands need serve stopped\n`);
    else closers.push(() => admin.close());
    // Claims commit in the audit log's own transactions (group commit, ADR 20).
    const ledger = audit.runLedger();
    // Policy and the executors share this process, its signing key with them: a ticket signed here is not verified again (ADR 25).
    const issuedTickets = new IssuedTickets();
    const database = async (): Promise<DataSource> => db;
    const context = (service: string): ServiceContext => ({
      service,
      configFile: '', // one watcher for all, below
      config,
      bus: new InProcessBus(broker),
      audit,
      ledger,
      database,
      issuedTickets,
      transport: () => new InProcessRpcServer(broker),
    });
    // Listening where the plan says; the gateway's own definition would read PORT itself.
    const gateway: ServiceDefinition = { ...gatewayService, http: (c) => ({ host: c.gateway.host, port: c.gateway.port }) };
    // Webhooks need a public address; the all-in-one mode polls its repositories instead.
    // The audit service serves the query API; the chain itself is written by LocalAuditLog.
    const definitions: [ServiceDefinition, string][] = [
      [{ ...gitSyncService, http: undefined }, 'git-sync'],
      [policyService, 'policy'],
      [auditService, 'the audit query API'],
      [executorPostgresService, 'executor-postgres'],
      [executorMysqlService, 'executor-mysql'],
      [executorShellService, 'executor-shell'],
      [executorSshService, 'executor-ssh'],
      [executorKubernetesService, 'executor-kubernetes'],
      [gateway, 'the MCP endpoint'],
    ];
    const services: RunningService[] = [];
    for (const [definition, what] of definitions) {
      const service = await startServing(definition, context(definition.name), what);
      services.push(service);
      closers.push(() => service.close());
    }
    const url = services[services.length - 1]?.url as string;
    const auditUrl = services.find((service) => service.ctx.service === auditService.name)?.url;
    config.listeningOn({ gateway: portOf(url), audit: portOf(auditUrl) });
    const watcher = new ConfigWatcher(config, configFile);
    watcher.start();
    closers.push(async () => watcher.stop());
    progress.say('services started');
    await waitUntilReady(services, 30_000);
    progress.say('runbook catalog loaded');
    const gatewayApp = services[services.length - 1]?.app;
    if (gatewayApp && config.current.console.enabled) {
      const sessions = gatewayApp.get(ConsoleSessions);
      consoleLinks = (user) => consoleLoginLink(tokens, sessions, config.current, user, url);
    }
    const consoleUser = options.consoleUser ?? (demo ? DEMO_USER : undefined);
    const consoleLink = consoleUser && consoleLinks ? await consoleLinks(consoleUser) : undefined;
    return {
      ...(consoleLink ? { consoleLink } : {}),
      url,
      auditUrl,
      close,
      ...('path' in admin ? { adminSocket: admin.path } : {}),
      ...(target ? { demoDatabase: target.url } : {}),
      ...(demo ? { token: demo.token, approverToken: demo.approverToken } : {}),
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * A one-time login link to the web console (ADR 23): a human token `console` for the user,
 * made like any other (audited, listed, revocable), held by the gateway and never shown; the
 * link's code exchanges for a session that acts with it, once, within console.loginLinkTtl.
 */
async function consoleLoginLink(tokens: TokenAdmin, sessions: ConsoleSessions, config: RungateConfig, user: string, url: string): Promise<{ user: string; url: string }> {
  if (!config.users.some((u) => u.name === user)) {
    throw new UsageError(`--console-user ${user}: not a user in users: of the configuration; the console signs in only users it knows`);
  }
  // human: the one who opens the link signs in themselves, and may approve held runs there (ADR 18 §3).
  const { token } = await tokens.create({ user, agent: 'console', ttlMs: config.console.sessionTtl + config.console.loginLinkTtl, scopes: ['audit:read'], human: true });
  const { code } = sessions.issueLoginCode(token, user);
  return { user, url: `${url}${CONSOLE_PATH}/login?code=${code}` };
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
  throw new RungateError('SERVICE_UNAVAILABLE', `not ready within ${timeoutMs / 1000}s, still waiting for ${waiting.join(', ')}`);
}

function banner(served: Served, dataDir: string, elapsed: string): string {
  const { url, auditUrl, token } = served;
  const mcp = `${url}/mcp`;
  const bearer = token ? `Bearer ${token}` : 'Bearer <your agent token>';
  const mcpJson = JSON.stringify({ mcpServers: { rungate: { type: 'http', url: mcp, headers: { Authorization: bearer } } } }, null, 2);
  const dataDirArg = dataDir === resolve(DEFAULT_DATA_DIR) ? '' : ` --data-dir ${dataDir}`;
  return `
Rungate is running (all-in-one${token ? ', demo' : ''}) — ready in ${elapsed}s

  MCP endpoint   ${mcp}
  Header         Authorization: ${bearer}
${token ? `  Demo identity  ${DEMO_USER} via agent ${DEMO_AGENT}; tools: demo.postgres.list_orders,
                 ${DEMO_HELD_TOOL} (try dryRun: true; a real run waits for an approval), demo.shell.disk_usage\n` : ''}
  Web console    ${served.consoleLink ? `${served.consoleLink.url}\n                 (one-time sign-in link for ${served.consoleLink.user}; works once, expires soon)` : `${url}/console  (rungate serve --console-user <user> prints a sign-in link)`}
  Listening      MCP, /console, /healthz, /readyz, /metrics  ${url}
${auditUrl ? `                 audit query API                  ${auditUrl}\n` : ''}${served.demoDatabase ? `                 demo database                    ${new URL(served.demoDatabase).host}\n` : ''}${served.adminSocket ? `                 admin socket (this OS user only) ${served.adminSocket}\n` : ''}
Connect a client:

  Claude Code
    claude mcp add --transport http rungate ${mcp} --header "Authorization: ${bearer}"

  MCP Inspector (command line)
    npx @modelcontextprotocol/inspector@2 --cli ${mcp} --transport http \\
      --header "Authorization: ${bearer}" --method tools/list

  mcp.json
${mcpJson.replace(/^/gm, '    ')}

${served.approverToken ? `${approvalHelp(url, served.approverToken, dataDirArg)}\n` : ''}Agent tokens, while this runs (through the admin socket):
  npx rungate token create${dataDirArg} --user <user> --agent <agent> --ttl 8h

Audit: every call is chained into the audit_events table before it runs.
${auditUrl ? `  RUNGATE_TOKEN=${token ?? "<an auditor's token>"} npx rungate audit search --url ${auditUrl} --since 1h\n` : ''}  npx rungate audit verify${dataDirArg}   (after Ctrl-C: it opens the data directory itself)
Stop with Ctrl-C.
`;
}

/** How the demo's approver approves a held run, as the banner prints it. */
function approvalHelp(url: string, approverToken: string, dataDirArg: string): string {
  const as = `RUNGATE_TOKEN=${approverToken}`;
  return `Approvals: a real ${DEMO_HELD_TOOL} waits for one approval by ${DEMO_APPROVER} (rule demo-db-writes);
the agent gets a run id (approval_required) and follows it with rungate_run_status. As the approver:
  ${as} npx rungate runs --pending --url ${url}
  ${as} npx rungate approve RUN_ID --url ${url}    (or: rungate reject RUN_ID --reason …)
  or in the web console: npx rungate console link${dataDirArg} --user ${DEMO_APPROVER}
`;
}

/** `rungate serve`: the one-command embedded default. Runs until SIGINT or SIGTERM. */
export async function serveCommand(options: ListenFlags & { config?: string; dataDir: string; consoleUser?: string }): Promise<undefined> {
  // Services log JSON lines; in one terminal only warnings and errors, unless asked.
  process.env['LOG_LEVEL'] ??= 'warn';
  // One process, one set of probes: the gateway's. HEALTH_PORT (for distributed services
  // without HTTP of their own) would make every in-process service bind the same port.
  delete process.env['HEALTH_PORT'];
  process.stderr.write(`Starting Rungate (all-in-one)${options.config ? ` with ${options.config}` : ' with the bundled demo'}…\n`);
  const started = Date.now();
  const served = await serve({ ...options, configFile: options.config });
  process.stdout.write(banner(served, resolve(options.dataDir), ((Date.now() - started) / 1000).toFixed(1)));
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      // A second signal: the operator will not wait. The lock goes with the process (its exit hook).
      process.stderr.write(`${signal} again: exiting without closing cleanly\n`);
      process.exit(130);
    }
    stopping = true;
    process.stderr.write(`\n${signal}: stopping (again to exit at once)…\n`);
    served.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  return undefined;
}
