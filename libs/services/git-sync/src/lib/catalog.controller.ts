import { Controller } from '@nestjs/common';
import { EventPattern, MessagePattern } from '@nestjs/microservices';
import {
  CatalogContentRequest,
  CatalogGetRequest,
  CatalogUpdatedEvent,
  Subjects,
  type CatalogContentReply,
  type CatalogGetReply,
  type Reply,
} from '@rungate/contracts';
import { answer, parsePayload } from '@rungate/messaging';
import { z } from 'zod';
import { CatalogRegistry } from './catalog-registry';
import { SYNC_REQUESTED } from './subjects';

const SyncRequested = z.object({ repository: z.string() });

/** The catalog over NATS; every replica answers (queue group `git-sync`). */
@Controller()
export class CatalogController {
  constructor(private readonly registry: CatalogRegistry) {}

  @MessagePattern(Subjects.catalogGet)
  get(payload: unknown): Promise<Reply<CatalogGetReply>> {
    return answer(async () => {
      const request = parsePayload(CatalogGetRequest, payload);
      return { catalogs: await this.registry.catalogs(request.repository, request.commit, request.offset) };
    });
  }

  @MessagePattern(Subjects.catalogContent)
  content(payload: unknown): Promise<Reply<CatalogContentReply>> {
    return answer(() => {
      const request = parsePayload(CatalogContentRequest, payload);
      return this.registry.content(request.repository, request.commit, request.path);
    });
  }

  /** The active replica published a commit: standbys fetch it, so any replica can answer. */
  @EventPattern(Subjects.catalogUpdated)
  async updated(payload: unknown): Promise<void> {
    const event = CatalogUpdatedEvent.safeParse(payload);
    if (event.success) await this.registry.follow(event.data.repository, event.data.commit);
  }

  @EventPattern(SYNC_REQUESTED)
  async syncRequested(payload: unknown): Promise<void> {
    const request = SyncRequested.safeParse(payload);
    if (request.success) await this.registry.requestSync(request.data.repository);
  }
}
