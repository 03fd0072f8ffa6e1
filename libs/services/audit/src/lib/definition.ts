import type { ServiceDefinition } from '@rungate/runtime';
import { AuditModule } from './audit.module';

export const auditService: ServiceDefinition = {
  name: 'audit',
  http: (config) => ({ host: config.gateway.host, port: config.audit.port }),
  module: (runtime) => AuditModule.register(runtime),
};
