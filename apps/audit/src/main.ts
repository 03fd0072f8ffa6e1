import { runService } from '@rungate/runtime';
import { auditService } from './app/definition';

runService(auditService);
