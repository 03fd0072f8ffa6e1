import { Controller, Inject, type OnApplicationShutdown } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import { execSubject, type ExecResult, type Reply } from '@rungate/contracts';
import { RunPipeline } from '@rungate/executors';
import { answer } from '@rungate/messaging';
import type { PreparedKubernetesRun } from './kubernetes.adapter';

export const SHUTDOWN_GRACE_MS = Symbol('SHUTDOWN_GRACE_MS');

@Controller()
export class ExecController implements OnApplicationShutdown {
  constructor(
    private readonly pipeline: RunPipeline<'kubernetes', PreparedKubernetesRun>,
    @Inject(SHUTDOWN_GRACE_MS) private readonly shutdownGraceMs: number,
  ) {}

  @MessagePattern(execSubject('kubernetes'))
  execute(payload: unknown): Promise<Reply<ExecResult>> {
    return answer(() => this.pipeline.execute(payload));
  }

  /** Runs after the transport unsubscribed (Nest disposes it first), so no new work arrives while runs drain. */
  async onApplicationShutdown(): Promise<void> {
    await this.pipeline.shutdown(this.shutdownGraceMs);
  }
}
