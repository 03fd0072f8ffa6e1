export {
  AuditSinkConfig,
  AuditSinkConfigs,
  SinkName,
  SinkRetry,
  SinkStart,
  SyslogSinkConfig,
  WebhookSinkConfig,
  sinkAckWaitMs,
  sinkDurableName,
  sinkMaxAckPending,
  sinkTarget,
  syslogPort,
  type AuditSinkConfigInput,
} from './lib/config';
export { SinkRunner, type SinkLog, type SinkRunnerOptions, type SinkState, type SinkStatus } from './lib/sink-runner';
export { ensureSinkConsumer, sinkConsumerConfig } from './lib/sink-consumer';
export { SinkDeliveryError, formatEvent, type SinkErrorCode, type SinkFormat } from './lib/delivery';
export { EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signWebhook, verifyWebhookSignature, type WebhookVerification } from './lib/webhook';
export { escapeSdParamValue, formatSyslogMessage, frameOctetCounted, syslogSeverity } from './lib/syslog';
export { OCSF_VERSION, ocsfActivity, ocsfStatus, toOcsf, type OcsfApiActivity } from './lib/ocsf';
export { Pause } from './lib/pause';
