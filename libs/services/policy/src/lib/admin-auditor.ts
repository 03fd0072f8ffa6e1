import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { configFingerprint, diffConfig, type RungateConfig } from '@rungate/config';
import { derivedEventId, type AuditSink } from '@rungate/messaging';
import { AUDIT_SINK, CONFIG, configChangeActor, configProvenance, type ConfigHolder, type ConfigOrigin, type ConfigProvenance } from '@rungate/runtime';

/** Derived from the change (from which configuration to which), so every replica that audits it publishes one id. */
function eventId(previous: string, next: string, section: string): string {
  return derivedEventId(`${previous}:${next}:${section}`);
}

/** A reload without a file behind it (a test, an embedding program): nobody can be named. */
const UNKNOWN_ACTOR = 'system:config-reload';

/**
 * Every change to rungate.yaml is audited by policy, once per section that changed
 * (`audit.admin.<section>.changed`: rules, users, tokens, connections, repositories,
 * guardrails, masking, sinks, settings), with a diff of keys and values and what can be known
 * of who made it (ConfigProvenance): the file and the digest of the bytes loaded, and the git
 * commit and author when those bytes are a commit's. Every service reloads the same file;
 * only policy records it, and its replicas publish one event id per change, which JetStream's
 * duplicate window stores once.
 */
@Injectable()
export class AdminAuditor implements OnModuleInit {
  private readonly log = new Logger(AdminAuditor.name);

  constructor(
    @Inject(CONFIG) private readonly config: ConfigHolder,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
  ) {}

  onModuleInit(): void {
    this.config.onChange((next, previous, origin) => void this.record(next, previous, origin));
  }

  async record(next: RungateConfig, previous: RungateConfig, origin?: ConfigOrigin): Promise<void> {
    const changes = Object.entries(diffConfig(previous, next));
    if (changes.length === 0) return;
    const [before, after] = [configFingerprint(previous), configFingerprint(next)];
    const provenance = origin ? await this.provenanceOf(origin) : undefined;
    const actor = provenance ? configChangeActor(provenance) : origin ? `config-file:${origin.file}` : UNKNOWN_ACTOR;
    const { file, sha256, ...about } = provenance ?? { file: origin?.file, sha256: undefined };
    for (const [section, diff] of changes) {
      try {
        await this.audit.publish({
          id: eventId(before, after, section),
          type: `audit.admin.${section}.changed`,
          source: 'policy',
          actor: { user: actor, groups: [] },
          details: {
            ...(file ? { file } : {}),
            ...(sha256 ? { fileSha256: sha256 } : {}),
            ...about,
            configSha256: after,
            previousConfigSha256: before,
            ...diff,
          },
        });
      } catch (error) {
        this.log.error(`could not audit the ${section} change: ${(error as Error).message}`);
      }
    }
  }

  private async provenanceOf(origin: ConfigOrigin): Promise<ConfigProvenance | undefined> {
    try {
      return await configProvenance(origin);
    } catch (error) {
      this.log.warn(`could not tell where ${origin.file} came from: ${(error as Error).message}`);
      return undefined;
    }
  }
}
