import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Logger, Module, type DynamicModule } from '@nestjs/common';
import { RunPipeline, VerifyKeyRing } from '@rungate/executors';
import type { AuditSink } from '@rungate/messaging';
import { AUDIT_SINK, CONFIG, Metrics, Readiness, SERVICE_CONTEXT, openRunLedger, type ConfigHolder, type ServiceContext } from '@rungate/runtime';
import { ExecController, SHUTDOWN_GRACE_MS } from './exec.controller';
import { ShellAdapter, type PreparedShellRun, type ShellAdapterOptions } from './shell.adapter';

export const SOURCE = 'executor-shell';

export interface ExecutorShellOptions {
  /** How long in-flight runs may finish at shutdown before their process groups are stopped. */
  shutdownGraceMs?: number;
  /** How long SIGTERM has before SIGKILL when a run is stopped. */
  killGraceMs?: number;
  /** Where run directories are made (default: the executor's TMPDIR). */
  workdirBase?: string;
}

/** Kubernetes' default termination grace is 30 s; runs get most of it, the rest is reporting. */
const DEFAULT_SHUTDOWN_GRACE_MS = 20_000;

function createPipelineFactory(adapterOptions: ShellAdapterOptions) {
  return async (config: ConfigHolder, audit: AuditSink, ctx: ServiceContext, readiness: Readiness): Promise<RunPipeline<'shell', PreparedShellRun>> => {
    const log = new Logger(SOURCE);
    const keys = new VerifyKeyRing(config.current.tickets.verifyKeys);
    config.onChange((next) => {
      try {
        keys.reload(next.tickets.verifyKeys);
      } catch (error) {
        log.error(`kept the previous ticket verify keys: ${(error as Error).message}`);
      }
    });
    const pipeline = new RunPipeline({
      source: SOURCE,
      replica: `${hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`,
      adapter: new ShellAdapter(new Logger('shell'), adapterOptions),
      verifyKeys: () => keys.current,
      connections: () => config.current.connections,
      ledger: await openRunLedger(ctx),
      audit,
      log,
      observer: {
        runFinished: ({ status, durationMs }) => {
          Metrics.runs.inc({ type: 'shell', status });
          if (durationMs !== undefined) Metrics.runSeconds.observe({ type: 'shell' }, durationMs / 1000);
        },
      },
    });
    readiness.register('executor', () => !pipeline.isDraining);
    return pipeline;
  };
}

@Module({})
export class ExecutorShellModule {
  static register(runtime: DynamicModule, options: ExecutorShellOptions = {}): DynamicModule {
    const { shutdownGraceMs, ...adapterOptions } = options;
    return {
      module: ExecutorShellModule,
      imports: [runtime],
      controllers: [ExecController],
      providers: [
        { provide: SHUTDOWN_GRACE_MS, useValue: shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS },
        { provide: RunPipeline, inject: [CONFIG, AUDIT_SINK, SERVICE_CONTEXT, Readiness], useFactory: createPipelineFactory(adapterOptions) },
      ],
    };
  }
}
