export { policyService } from './lib/definition';
/** The approvals handler, whose sweep a test may run on a replica as its timer would (ADR 18 §2). */
export { Approvals } from './lib/approvals';
