import { runService } from '@rungate/runtime';
import { policyService } from '@rungate/service-policy';

runService(policyService);
