import { hostname } from 'node:os';
import { Controller, Inject, Logger, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import { resolveSecret } from '@rungate/config';
import { execSubject, type ExecResult, type Reply } from '@rungate/contracts';
import { ExecutionPipeline, identityMasker, type ExecutorAdapter } from '@rungate/executors';
import { KvRunLedger, answer, type AuditSink } from '@rungate/messaging';
import { AUDIT_SINK, CONFIG, Metrics, NATS_CONNECTION, type ConfigHolder } from '@rungate/runtime';
import { verifyKeyFromPem } from '@rungate/tickets';
import type { NatsConnection } from 'nats';

const SHUTDOWN_DEADLINE_MS = 10_000;
export const ADAPTER = Symbol('ADAPTER');

@Controller()
class ExecController implements OnApplicationShutdown {
  constructor(
    private readonly pipeline: ExecutionPipeline,
    @Inject(ADAPTER) private readonly adapter: ExecutorAdapter,
  ) {}

  @MessagePattern(execSubject('postgres'))
  execute(payload: unknown): Promise<Reply<ExecResult>> {
    const stop = Metrics.runSeconds.startTimer({ type: this.adapter.type });
    return answer(async () => {
      try {
        const result = await this.pipeline.execute(payload);
        Metrics.runs.inc({ type: this.adapter.type, status: result.status });
        return result;
      } catch (error) {
        Metrics.runs.inc({ type: this.adapter.type, status: 'failed' });
        throw error;
      } finally {
        stop();
      }
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pipeline.drain(SHUTDOWN_DEADLINE_MS);
    await this.adapter.close();
  }
}

@Module({})
export class ExecutorModule {
  static register(runtime: DynamicModule, adapter: ExecutorAdapter, source: string): DynamicModule {
    return {
      module: ExecutorModule,
      imports: [runtime],
      controllers: [ExecController],
      providers: [
        { provide: ADAPTER, useValue: adapter },
        {
          provide: ExecutionPipeline,
          inject: [CONFIG, AUDIT_SINK, NATS_CONNECTION],
          useFactory: async (config: ConfigHolder, audit: AuditSink, nc: NatsConnection) => {
            const keys = () => config.current.tickets.verifyKeys.map((ref) => verifyKeyFromPem(resolveSecret(ref)));
            if (keys().length === 0) throw new Error('tickets.verifyKeys is empty: this executor could verify no run ticket');
            let cached = keys();
            config.onChange(() => {
              try {
                cached = keys();
              } catch (error) {
                new Logger('tickets').error(`kept the previous verify keys: ${(error as Error).message}`);
              }
            });
            return new ExecutionPipeline({
              adapter,
              masker: identityMasker,
              audit,
              ledger: await KvRunLedger.open(nc.jetstream()),
              verifyKeys: () => cached,
              connections: () => config.current.connections,
              source,
              replica: `${hostname()}:${process.pid}`,
            });
          },
        },
      ],
    };
  }
}
