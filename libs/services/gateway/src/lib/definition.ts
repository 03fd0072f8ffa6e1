import type { ServiceDefinition } from '@rungate/runtime';
import { GatewayModule } from './gateway.module';

export const gatewayService: ServiceDefinition = {
  name: 'gateway',
  bodyParser: false,
  http: (config) => ({ host: config.gateway.host, port: Number(process.env['PORT'] ?? config.gateway.port) }),
  module: (runtime) => GatewayModule.register(runtime),
};
