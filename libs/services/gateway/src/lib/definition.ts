import { readEnvironment } from '@rungate/config';
import { GATEWAY_QUEUE } from '@rungate/contracts';
import type { ServiceDefinition } from '@rungate/runtime';
import { GatewayModule } from './gateway.module';

export const gatewayService: ServiceDefinition = {
  name: 'gateway',
  bodyParser: false,
  // Only events arrive (client cancellations, to every replica); the group is the transport's.
  queue: GATEWAY_QUEUE,
  http: (config) => ({ host: config.gateway.host, port: readEnvironment().PORT ?? config.gateway.port }),
  module: (runtime) => GatewayModule.register(runtime),
};
