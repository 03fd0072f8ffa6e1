import { Module, type DynamicModule } from '@nestjs/common';
import { CancelRelayController } from './cancel-relay.controller';
import { Authenticator } from './identity.guard';
import { InFlightCalls } from './in-flight-calls';
import { McpController } from './mcp.controller';
import { ProtectedResourceController } from './protected-resource';
import { ToolCalls } from './tool-calls';

@Module({})
export class GatewayModule {
  static register(runtime: DynamicModule): DynamicModule {
    return {
      module: GatewayModule,
      imports: [runtime],
      controllers: [McpController, ProtectedResourceController, CancelRelayController],
      providers: [Authenticator, ToolCalls, { provide: InFlightCalls, useFactory: () => new InFlightCalls() }],
    };
  }
}
