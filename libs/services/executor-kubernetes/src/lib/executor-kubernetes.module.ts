import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Logger, Module, type DynamicModule } from '@nestjs/common';
import { RunPipeline, VerifyKeyRing } from '@rungate/executors';
import type { AuditSink } from '@rungate/messaging';
import { AUDIT_SINK, CONFIG, Metrics, Readiness, SERVICE_CONTEXT, openRunLedger, type ConfigHolder, type ServiceContext } from '@rungate/runtime';
import { ExecController, SHUTDOWN_GRACE_MS } from './exec.controller';
import { KubeTargets } from './kube-targets';
import { KubernetesAdapter, type PreparedKubernetesRun } from './kubernetes.adapter';

export const SOURCE = 'executor-kubernetes';

export interface ExecutorKubernetesOptions {
  /** How long in-flight runs may finish at shutdown before they are cancelled. */
  shutdownGraceMs?: number;
  /** Environment the connections' secret references resolve in (tests use their own). */
  env?: NodeJS.ProcessEnv;
}

/** Kubernetes' default termination grace is 30 s; runs get most of it, the rest is reporting. */
const DEFAULT_SHUTDOWN_GRACE_MS = 20_000;

async function createPipeline(
  options: ExecutorKubernetesOptions,
  config: ConfigHolder,
  audit: AuditSink,
  ctx: ServiceContext,
  readiness: Readiness,
): Promise<RunPipeline<'kubernetes', PreparedKubernetesRun>> {
  const log = new Logger(SOURCE);
  const keys = new VerifyKeyRing(config.current.tickets.verifyKeys);
  config.onChange((next) => {
    try {
      keys.reload(next.tickets.verifyKeys);
    } catch (error) {
      log.error(`kept the previous ticket verify keys: ${(error as Error).message}`);
    }
  });
  const kubeLog = new Logger('kubernetes');
  const pipeline = new RunPipeline({
    source: SOURCE,
    replica: `${hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`,
    adapter: new KubernetesAdapter(new KubeTargets(kubeLog, options.env), kubeLog),
    verifyKeys: () => keys.current,
    connections: () => config.current.connections,
    ledger: await openRunLedger(ctx),
    audit,
    log,
    observer: {
      runFinished: ({ status, durationMs }) => {
        Metrics.runs.inc({ type: 'kubernetes', status });
        if (durationMs !== undefined) Metrics.runSeconds.observe({ type: 'kubernetes' }, durationMs / 1000);
      },
    },
  });
  readiness.register('executor', () => !pipeline.isDraining);
  return pipeline;
}

const OPTIONS = Symbol('EXECUTOR_KUBERNETES_OPTIONS');

@Module({})
export class ExecutorKubernetesModule {
  static register(runtime: DynamicModule, options: ExecutorKubernetesOptions = {}): DynamicModule {
    return {
      module: ExecutorKubernetesModule,
      imports: [runtime],
      controllers: [ExecController],
      providers: [
        { provide: SHUTDOWN_GRACE_MS, useValue: options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS },
        { provide: OPTIONS, useValue: options },
        { provide: RunPipeline, inject: [OPTIONS, CONFIG, AUDIT_SINK, SERVICE_CONTEXT, Readiness], useFactory: createPipeline },
      ],
    };
  }
}
