import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Logger, Module, type DynamicModule } from '@nestjs/common';
import { RunPipeline, VerifyKeyRing } from '@rungate/executors';
import type { AuditSink } from '@rungate/messaging';
import { AUDIT_SINK, CONFIG, Metrics, Readiness, SERVICE_CONTEXT, openRunLedger, type ConfigHolder, type ServiceContext } from '@rungate/runtime';
import { ExecController, SHUTDOWN_GRACE_MS } from './exec.controller';
import { SshAdapter, type PreparedSshRun, type SshAdapterOptions } from './ssh.adapter';
import { SshTargets } from './ssh-targets';

export const SOURCE = 'executor-ssh';

export interface ExecutorSshOptions extends SshAdapterOptions {
  /** How long in-flight runs may finish at shutdown before they are cancelled. */
  shutdownGraceMs?: number;
}

/** Kubernetes' default termination grace is 30 s; runs get most of it, the rest is reporting. */
const DEFAULT_SHUTDOWN_GRACE_MS = 20_000;

function createPipeline(options: ExecutorSshOptions) {
  return async (config: ConfigHolder, audit: AuditSink, ctx: ServiceContext, readiness: Readiness): Promise<RunPipeline<'ssh', PreparedSshRun>> => {
    const log = new Logger(SOURCE);
    const keys = new VerifyKeyRing(config.current.tickets.verifyKeys);
    config.onChange((next) => {
      try {
        keys.reload(next.tickets.verifyKeys);
      } catch (error) {
        log.error(`kept the previous ticket verify keys: ${(error as Error).message}`);
      }
    });
    const sshLog = new Logger('ssh');
    const pipeline = new RunPipeline({
      source: SOURCE,
      replica: `${hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`,
      adapter: new SshAdapter(new SshTargets(sshLog), sshLog, options),
      verifyKeys: () => keys.current,
      connections: () => config.current.connections,
      ledger: await openRunLedger(ctx),
      audit,
      log,
      observer: {
        runFinished: ({ status, durationMs }) => {
          Metrics.runs.inc({ type: 'ssh', status });
          if (durationMs !== undefined) Metrics.runSeconds.observe({ type: 'ssh' }, durationMs / 1000);
        },
      },
    });
    readiness.register('executor', () => !pipeline.isDraining);
    return pipeline;
  };
}

@Module({})
export class ExecutorSshModule {
  static register(runtime: DynamicModule, options: ExecutorSshOptions = {}): DynamicModule {
    return {
      module: ExecutorSshModule,
      imports: [runtime],
      controllers: [ExecController],
      providers: [
        { provide: SHUTDOWN_GRACE_MS, useValue: options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS },
        { provide: RunPipeline, inject: [CONFIG, AUDIT_SINK, SERVICE_CONTEXT, Readiness], useFactory: createPipeline(options) },
      ],
    };
  }
}
