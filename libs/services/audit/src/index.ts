export { auditService } from './lib/definition';
