import { runService } from '@rungate/runtime';
import { auditService } from '@rungate/service-audit';

runService(auditService);
