import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { configFingerprint, diffAdmin, isEmptyDiff, type RungateConfig } from '@rungate/config';
import type { AuditSink } from '@rungate/messaging';
import { AUDIT_SINK, CONFIG, SERVICE_CONTEXT, type ConfigHolder, type ServiceContext } from '@rungate/runtime';

function eventId(fingerprint: string, section: string): string {
  const hex = createHash('sha256').update(`${fingerprint}:${section}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * Every change to rules, users or tokens is an audit event. Each policy replica sees the
 * same reload; the event id is derived from the new configuration, so JetStream's duplicate
 * window stores it once.
 */
@Injectable()
export class AdminAuditor implements OnModuleInit {
  private readonly log = new Logger(AdminAuditor.name);

  constructor(
    @Inject(CONFIG) private readonly config: ConfigHolder,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
    @Inject(SERVICE_CONTEXT) private readonly ctx: ServiceContext,
  ) {}

  onModuleInit(): void {
    this.config.onChange((next, previous) => void this.record(next, previous));
  }

  async record(next: RungateConfig, previous: RungateConfig): Promise<void> {
    const fingerprint = configFingerprint(next);
    const changes = diffAdmin(previous, next);
    for (const [section, diff] of Object.entries(changes)) {
      if (isEmptyDiff(diff)) continue;
      try {
        await this.audit.publish({
          id: eventId(fingerprint, section),
          type: `audit.admin.${section}.changed`,
          source: 'policy',
          actor: { user: 'system:config-reload', groups: [] },
          details: { file: this.ctx.configFile, configSha256: fingerprint, ...diff },
        });
      } catch (error) {
        this.log.error(`could not audit the ${section} change: ${(error as Error).message}`);
      }
    }
  }
}
