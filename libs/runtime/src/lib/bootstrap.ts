import type { Server } from 'node:http';
import type { DynamicModule, INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ConfigError, configPath, loadConfig, readEnvironment, type RungateConfig } from '@rungate/config';
import { JetStreamAuditSink, NatsBus, NatsRpcServer, connectNats, ensureAuditStream } from '@rungate/messaging';
import { ConfigWatcher } from './config-watcher';
import { applyEdgeTimeouts } from './edge-timeouts';
import { JsonLogger, createLogger } from './logging';
import { ConfigHolder, type ServiceContext } from './context';
import { RuntimeModule } from './runtime.module';
import { InternalError } from '@rungate/contracts';

export interface ServiceDefinition {
  /** The service's name: logs, NATS connection name, audit `source`. */
  name: string;
  /** The app's root module, given the runtime module to import. */
  module: (runtime: DynamicModule, ctx: ServiceContext) => DynamicModule;
  /** NATS queue group for its request handlers; omitted when it serves none. */
  queue?: string;
  /** Where it listens for HTTP, if it is HTTP-facing. */
  http?: (config: RungateConfig) => { host: string; port: number };
  /** False when the service reads raw bodies itself (the MCP endpoint does, to bound and parse them). */
  bodyParser?: boolean;
  /** Keep the raw request body (req.rawBody), e.g. to verify webhook signatures. */
  rawBody?: boolean;
}

export interface RunningService {
  app: INestApplicationContext;
  ctx: ServiceContext;
  url?: string;
  close(): Promise<void>;
}

export async function createServiceContext(name: string, configFile = configPath()): Promise<ServiceContext> {
  const config = new ConfigHolder(loadConfig(configFile));
  const nc = await connectNats({ name: `rungate-${name}` });
  await ensureAuditStream(await nc.jetstreamManager());
  return { service: name, configFile, config, nc, bus: new NatsBus(nc), audit: new JetStreamAuditSink(nc) };
}

export interface StartOptions {
  /**
   * Close on SIGTERM/SIGINT by itself (default). Nest then re-raises the signal, ending the
   * process: right for one service per process, wrong where one process hosts several and
   * closes them in order itself (`rungate serve`).
   */
  shutdownHooks?: boolean;
}

/** Starts one service: config, NATS, the audit stream, then Nest with its transports. */
export async function startService(definition: ServiceDefinition, ctx?: ServiceContext, options: StartOptions = {}): Promise<RunningService> {
  const shutdownHooks = options.shutdownHooks ?? true;
  const context = ctx ?? (await createServiceContext(definition.name));
  // Services that serve no HTTP of their own still expose probes when HEALTH_PORT is set.
  const { HEALTH_PORT: healthPort, HEALTH_HOST: healthHost } = readEnvironment();
  const http = definition.http ?? (healthPort !== undefined ? () => ({ host: healthHost, port: healthPort }) : undefined);
  const runtime = RuntimeModule.forRoot(context, { http: Boolean(http) });
  const root = definition.module(runtime, context);
  const queue = definition.queue;
  const nc = context.nc;
  const natsServer = (q: string) => {
    if (!nc) throw new InternalError(`${definition.name}: no transport (neither NATS nor in-process)`);
    return new NatsRpcServer({ queue: q, connection: async () => nc });
  };
  const server = queue ? (context.transport?.(queue) ?? natsServer(queue)) : undefined;
  const logger = new JsonLogger(createLogger(definition.name));
  let app: INestApplicationContext;
  let url: string | undefined;
  if (http) {
    const web = await NestFactory.create(root, {
      bodyParser: definition.bodyParser ?? true,
      rawBody: definition.rawBody ?? false,
      logger,
    });
    if (shutdownHooks) web.enableShutdownHooks();
    if (server) web.connectMicroservice({ strategy: server }, { inheritAppConfig: true });
    await web.startAllMicroservices();
    const { host, port } = http(context.config.current);
    const httpServer = web.getHttpServer() as Server;
    applyEdgeTimeouts(httpServer, context.config.current.gateway);
    context.config.onChange((next) => applyEdgeTimeouts(httpServer, next.gateway));
    await web.listen(port, host);
    const address = web.getHttpServer().address();
    url = typeof address === 'object' && address ? `http://${host}:${address.port}` : undefined;
    app = web;
  } else if (server) {
    const micro = await NestFactory.createMicroservice(root, { strategy: server, logger });
    if (shutdownHooks) micro.enableShutdownHooks();
    await micro.listen();
    app = micro;
  } else {
    app = await NestFactory.createApplicationContext(root, { logger });
    if (shutdownHooks) app.enableShutdownHooks();
  }
  const watcher = new ConfigWatcher(context.config, context.configFile);
  if (context.configFile) watcher.start();
  logger.log(`${definition.name} started${url ? ` on ${url}` : ''}`);
  return {
    app,
    ctx: context,
    url,
    close: async () => {
      watcher.stop();
      await app.close();
      await context.nc?.drain().catch(() => undefined);
    },
  };
}

/** The `main.ts` of every service: start, or explain a bad config and exit non-zero. */
export function runService(definition: ServiceDefinition): void {
  startService(definition).catch((error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`${definition.name} failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
