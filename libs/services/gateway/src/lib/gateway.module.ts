import { Module, type DynamicModule } from '@nestjs/common';
import { CONFIG, type ConfigHolder } from '@rungate/runtime';
import { AuthFailures } from './auth-failures';
import { BearerGate } from './bearer-gate';
import { CancelRelayController } from './cancel-relay.controller';
import { ConsoleController } from './console/console.controller';
import { ConsoleSessions } from './console/sessions';
import { EdgeAttempts } from './edge-attempts';
import { Authenticator } from './identity.guard';
import { InFlightCalls } from './in-flight-calls';
import { McpController } from './mcp.controller';
import { ProtectedResourceController } from './protected-resource';
import { RunsController } from './runs.controller';
import { ToolCalls } from './tool-calls';
import { ToolTasks } from './tool-tasks';

@Module({})
export class GatewayModule {
  static register(runtime: DynamicModule): DynamicModule {
    return {
      module: GatewayModule,
      imports: [runtime],
      controllers: [McpController, ProtectedResourceController, CancelRelayController, ConsoleController, RunsController],
      providers: [
        Authenticator,
        BearerGate,
        ToolCalls,
        ToolTasks,
        EdgeAttempts,
        { provide: InFlightCalls, useFactory: () => new InFlightCalls() },
        { provide: ConsoleSessions, inject: [CONFIG], useFactory: (config: ConfigHolder) => new ConsoleSessions(() => config.current.console) },
        {
          provide: AuthFailures,
          inject: [CONFIG],
          useFactory: (config: ConfigHolder) =>
            new AuthFailures(() => ({ failures: config.current.gateway.authFailureLimit.failures, windowMs: config.current.gateway.authFailureLimit.window })),
        },
      ],
    };
  }
}
