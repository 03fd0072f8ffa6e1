import { Controller, Get, HttpCode, HttpStatus, Inject, Injectable, Res } from '@nestjs/common';
import type { Response } from 'express';
import { NATS_CONNECTION } from './context';
import type { NatsConnection } from 'nats';

type Check = () => Promise<boolean> | boolean;

/** Services register what "ready" means for them (catalog loaded, database reachable…). */
@Injectable()
export class Readiness {
  private readonly checks = new Map<string, Check>();

  constructor(@Inject(NATS_CONNECTION) nc: NatsConnection | undefined) {
    if (nc) this.register('nats', () => !nc.isClosed() && !nc.isDraining() && nc.info !== undefined);
  }

  register(name: string, check: Check): void {
    this.checks.set(name, check);
  }

  async evaluate(): Promise<Record<string, boolean>> {
    const result: Record<string, boolean> = {};
    for (const [name, check] of this.checks) {
      try {
        result[name] = await check();
      } catch {
        result[name] = false;
      }
    }
    return result;
  }
}

@Controller()
export class HealthController {
  constructor(private readonly readiness: Readiness) {}

  @Get('healthz')
  @HttpCode(HttpStatus.OK)
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('readyz')
  async readyz(@Res() res: Response): Promise<void> {
    const checks = await this.readiness.evaluate();
    const ready = Object.values(checks).every(Boolean);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks });
  }
}
