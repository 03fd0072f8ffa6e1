export { auditService } from './lib/definition';
export { ChainConsumer, type ChainConsumerOptions, type ChainLog, type ChainRole, type ChainWriterStatus, type CommittedBatch } from './lib/chain-consumer';
export { WriterLease } from './lib/writer-lease';
export { parseAuditTime } from './lib/audit-query';
export { compareWithStream, type StreamComparison, type StreamMismatch } from './lib/stream-check';
