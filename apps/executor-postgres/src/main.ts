import { runService } from '@rungate/runtime';
import { executorPostgresService } from './app/definition';

runService(executorPostgresService);
