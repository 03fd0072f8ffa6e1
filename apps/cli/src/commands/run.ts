import { runService, type ServiceDefinition } from '@rungate/runtime';
import { auditService } from '@rungate/service-audit';
import { executorKubernetesService } from '@rungate/service-executor-kubernetes';
import { executorMysqlService } from '@rungate/service-executor-mysql';
import { executorPostgresService } from '@rungate/service-executor-postgres';
import { executorShellService } from '@rungate/service-executor-shell';
import { executorSshService } from '@rungate/service-executor-ssh';
import { gatewayService } from '@rungate/service-gateway';
import { gitSyncService } from '@rungate/service-git-sync';
import { policyService } from '@rungate/service-policy';
import type { ServiceName } from './services';

export { SERVICES, type ServiceName } from './services';

/** Every service `rungate run` starts, by the name it is started with. */
export const SERVICE_DEFINITIONS: Record<ServiceName, ServiceDefinition> = {
  gateway: gatewayService,
  'git-sync': gitSyncService,
  policy: policyService,
  audit: auditService,
  'executor-postgres': executorPostgresService,
  'executor-mysql': executorMysqlService,
  'executor-ssh': executorSshService,
  'executor-kubernetes': executorKubernetesService,
  'executor-shell': executorShellService,
};

/** `rungate run <service>`: one service in this process, over NATS (the distributed mode). Runs until stopped. */
export function runServiceCommand(name: ServiceName): undefined {
  runService(SERVICE_DEFINITIONS[name]);
  return undefined;
}
