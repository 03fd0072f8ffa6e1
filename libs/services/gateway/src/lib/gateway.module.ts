import { Module, type DynamicModule } from '@nestjs/common';
import { Authenticator } from './identity.guard';
import { McpController } from './mcp.controller';
import { ProtectedResourceController } from './protected-resource';
import { ToolCalls } from './tool-calls';

@Module({})
export class GatewayModule {
  static register(runtime: DynamicModule): DynamicModule {
    return { module: GatewayModule, imports: [runtime], controllers: [McpController, ProtectedResourceController], providers: [Authenticator, ToolCalls] };
  }
}
