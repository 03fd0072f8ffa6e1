import type { ServiceDefinition } from '@rungate/runtime';
import { PolicyModule } from './policy.module';

export const policyService: ServiceDefinition = {
  name: 'policy',
  queue: 'policy',
  module: (runtime) => PolicyModule.register(runtime),
};
