import { runService } from '@rungate/runtime';
import { executorPostgresService } from '@rungate/service-executor-postgres';

runService(executorPostgresService);
