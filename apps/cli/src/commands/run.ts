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

/** Every service `rungate run` starts, by the name it is started with. */
export const SERVICE_DEFINITIONS = {
  gateway: gatewayService,
  'git-sync': gitSyncService,
  policy: policyService,
  audit: auditService,
  'executor-postgres': executorPostgresService,
  'executor-mysql': executorMysqlService,
  'executor-ssh': executorSshService,
  'executor-kubernetes': executorKubernetesService,
  'executor-shell': executorShellService,
} as const satisfies Record<string, ServiceDefinition>;

export type ServiceName = keyof typeof SERVICE_DEFINITIONS;
export const SERVICES = Object.keys(SERVICE_DEFINITIONS) as ServiceName[];

function isService(name: string | undefined): name is ServiceName {
  return name !== undefined && Object.hasOwn(SERVICE_DEFINITIONS, name);
}

/** `rungate run <service>`: one service in this process, over NATS (the distributed mode). */
export function runServiceCommand(args: string[]): number | undefined {
  const name = args[0];
  if (!isService(name)) {
    process.stderr.write(`usage: rungate run <${SERVICES.join('|')}>\n`);
    return 2;
  }
  runService(SERVICE_DEFINITIONS[name]);
  return undefined;
}
