export { policyService } from './lib/definition';
