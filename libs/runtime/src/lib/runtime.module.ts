import { Global, Module, type DynamicModule } from '@nestjs/common';
import { AttemptAudit } from './attempt-audit';
import { AUDIT_SINK, BUS, CONFIG, NATS_CONNECTION, SERVICE_CONTEXT, type ServiceContext } from './context';
import { MetricsController } from './metrics';
import { HealthController, Readiness } from './readiness';

@Global()
@Module({})
export class RuntimeModule {
  static forRoot(ctx: ServiceContext, options: { http: boolean }): DynamicModule {
    return {
      module: RuntimeModule,
      controllers: options.http ? [HealthController, MetricsController] : [],
      providers: [
        { provide: SERVICE_CONTEXT, useValue: ctx },
        { provide: CONFIG, useValue: ctx.config },
        { provide: BUS, useValue: ctx.bus },
        { provide: AUDIT_SINK, useValue: ctx.audit },
        { provide: NATS_CONNECTION, useValue: ctx.nc },
        Readiness,
        AttemptAudit,
      ],
      exports: [SERVICE_CONTEXT, CONFIG, BUS, AUDIT_SINK, NATS_CONNECTION, Readiness, AttemptAudit],
    };
  }
}
