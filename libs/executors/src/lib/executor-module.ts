import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Controller, Inject, Logger, type DynamicModule, type OnApplicationShutdown, type Type } from '@nestjs/common';
import { EventPattern, MessagePattern } from '@nestjs/microservices';
import { ExecCancel, execCancelSubject, execSubject, type ConnectionType, type ExecResult, type Reply } from '@rungate/contracts';
import { answer, type AuditSink } from '@rungate/messaging';
import { AUDIT_SINK, CONFIG, Metrics, Readiness, SERVICE_CONTEXT, openRunLedger, type ConfigHolder, type ServiceContext } from '@rungate/runtime';
import type { ExecutorAdapter } from './adapter';
import { MaskingProfiles } from './masking';
import { RunPipeline } from './pipeline';
import { VerifyKeyRing } from './verify-keys';

/** Kubernetes' default termination grace is 30 s; runs get most of it, the rest is reporting. */
const DEFAULT_SHUTDOWN_GRACE_MS = 20_000;
const SHUTDOWN_GRACE_MS = Symbol('SHUTDOWN_GRACE_MS');

export interface ExecutorModuleSpec<T extends ConnectionType, Prepared> {
  /** The connection type: subject `rungate.exec.<type>.v1`, metrics label, audit source `executor-<type>`. */
  type: T;
  /** Builds the adapter once, when the service starts. */
  adapter: () => ExecutorAdapter<T, Prepared>;
  /** How long in-flight runs may finish at shutdown before they are cancelled. */
  shutdownGraceMs?: number;
}

/** The audit `source` and service name of the executor for a connection type. */
export function executorSource(type: ConnectionType): string {
  return `executor-${type}`;
}

/** The handlers of an executor: its type's exec subject, answered by the pipeline, and stop requests for its runs. */
function execController(type: ConnectionType): Type<unknown> {
  @Controller()
  class ExecController implements OnApplicationShutdown {
    private readonly log = new Logger(executorSource(type));

    constructor(
      @Inject(RunPipeline) private readonly pipeline: RunPipeline<ConnectionType, unknown>,
      @Inject(SHUTDOWN_GRACE_MS) private readonly shutdownGraceMs: number,
    ) {}

    @MessagePattern(execSubject(type))
    execute(payload: unknown): Promise<Reply<ExecResult>> {
      return answer(() => this.pipeline.execute(payload));
    }

    /** An event every replica hears: the one running the run stops it, the others remember it. */
    @EventPattern(execCancelSubject(type))
    stop(payload: unknown): Promise<Reply<void>> {
      return answer(() => {
        const parsed = ExecCancel.safeParse(payload);
        if (!parsed.success) {
          this.log.warn(`ignored a malformed stop request on ${execCancelSubject(type)}`);
          return;
        }
        this.pipeline.stop(parsed.data);
      });
    }

    /**
     * Runs after the transport unsubscribed (Nest disposes it first), so no new work arrives
     * while runs drain; the ones still running at the deadline are cancelled.
     */
    async onApplicationShutdown(): Promise<void> {
      await this.pipeline.shutdown(this.shutdownGraceMs);
    }
  }
  return ExecController;
}

async function createPipeline<T extends ConnectionType, Prepared>(
  spec: ExecutorModuleSpec<T, Prepared>,
  config: ConfigHolder,
  audit: AuditSink,
  ctx: ServiceContext,
  readiness: Readiness,
): Promise<RunPipeline<T, Prepared>> {
  const source = executorSource(spec.type);
  const log = new Logger(source);
  const keys = new VerifyKeyRing(config.current.tickets.verifyKeys);
  const masking = new MaskingProfiles();
  // A profile that cannot be applied (its hash key unreadable) refuses the runs that name it.
  const loadMasking = (profiles: typeof config.current.masking) => masking.load(profiles).forEach((problem) => log.error(`${problem}; runs selecting it are refused`));
  loadMasking(config.current.masking);
  config.onChange((next) => {
    try {
      keys.reload(next.tickets.verifyKeys);
    } catch (error) {
      log.error(`kept the previous ticket verify keys: ${(error as Error).message}`);
    }
    loadMasking(next.masking);
  });
  const pipeline = new RunPipeline({
    source,
    replica: `${hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`,
    adapter: spec.adapter(),
    verifyKeys: () => keys.current,
    ...(ctx.issuedTickets ? { issuedTickets: ctx.issuedTickets } : {}),
    connections: () => config.current.connections,
    ledger: await openRunLedger(ctx),
    audit,
    masking,
    log,
    observer: {
      runFinished: ({ status, durationMs }) => {
        Metrics.runs.inc({ type: spec.type, status });
        if (durationMs !== undefined) Metrics.runSeconds.observe({ type: spec.type }, durationMs / 1000);
      },
    },
  });
  readiness.register('executor', () => !pipeline.isDraining);
  return pipeline;
}

/**
 * Everything an executor service wires the same way whatever its type: the exec handler, the
 * pipeline (verify keys that follow config reloads, the run ledger, write-ahead audit,
 * metrics, readiness) and graceful shutdown. Each executor supplies only its adapter.
 */
export function executorModule<T extends ConnectionType, Prepared>(module: Type<unknown>, runtime: DynamicModule, spec: ExecutorModuleSpec<T, Prepared>): DynamicModule {
  return {
    module,
    imports: [runtime],
    controllers: [execController(spec.type)],
    providers: [
      { provide: SHUTDOWN_GRACE_MS, useValue: spec.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS },
      {
        provide: RunPipeline,
        inject: [CONFIG, AUDIT_SINK, SERVICE_CONTEXT, Readiness],
        useFactory: (config: ConfigHolder, audit: AuditSink, ctx: ServiceContext, readiness: Readiness) => createPipeline(spec, config, audit, ctx, readiness),
      },
    ],
  };
}
