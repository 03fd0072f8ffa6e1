import { runService } from '@rungate/runtime';
import { policyService } from './app/definition';

runService(policyService);
