import { AUDIT_STREAM, AUDIT_SUBJECTS, InternalError } from '@rungate/contracts';
import { DiscardPolicy, RetentionPolicy, StorageType, nanos, type JetStreamManager, type StreamConfig } from 'nats';

/** How long JetStream remembers a Nats-Msg-Id, so a retried publish is stored once. */
export const AUDIT_DUPLICATE_WINDOW_MS = 2 * 60 * 1000;

export const AUDIT_STREAM_CONFIG: Partial<StreamConfig> = {
  name: AUDIT_STREAM,
  subjects: [AUDIT_SUBJECTS],
  storage: StorageType.File,
  retention: RetentionPolicy.Limits,
  discard: DiscardPolicy.Old,
  deny_delete: true,
  deny_purge: true,
  duplicate_window: nanos(AUDIT_DUPLICATE_WINDOW_MS),
};

/**
 * Creates the AUDIT stream, or checks that the existing one is at least as strict. A stream
 * someone weakened (memory storage, deletes allowed, no duplicate window) is an error: the
 * audit trail's guarantees are not silently downgraded.
 */
export async function ensureAuditStream(jsm: JetStreamManager): Promise<void> {
  let info;
  try {
    info = await jsm.streams.info(AUDIT_STREAM);
  } catch (error) {
    if ((error as { code?: string }).code !== '404') throw error;
    await jsm.streams.add(AUDIT_STREAM_CONFIG);
    return;
  }
  const problems = auditStreamProblems(info.config);
  if (problems.length > 0) {
    throw new InternalError(`the ${AUDIT_STREAM} stream is weaker than required: ${problems.join('; ')}`);
  }
}

export function auditStreamProblems(config: StreamConfig): string[] {
  const problems: string[] = [];
  if (!config.subjects?.includes(AUDIT_SUBJECTS)) problems.push(`subjects must include ${AUDIT_SUBJECTS}`);
  if (config.storage !== StorageType.File) problems.push('storage must be file');
  if (!config.deny_delete) problems.push('deny_delete must be true');
  if (!config.deny_purge) problems.push('deny_purge must be true');
  if (!config.duplicate_window || config.duplicate_window < nanos(30_000)) problems.push('duplicate_window must be at least 30s');
  if (config.retention !== RetentionPolicy.Limits) problems.push('retention must be limits (a work-queue stream loses events)');
  return problems;
}
