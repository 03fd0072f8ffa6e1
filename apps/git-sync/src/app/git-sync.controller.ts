import { createHmac, timingSafeEqual } from 'node:crypto';
import { Controller, Get, HttpCode, Inject, Param, Post, Req, Res } from '@nestjs/common';
import { EventPattern, MessagePattern } from '@nestjs/microservices';
import { resolveSecret } from '@rungate/config';
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
import { CONFIG, type ConfigHolder } from '@rungate/runtime';
import type { Request, Response } from 'express';
import { CatalogService } from './catalog.service';

@Controller()
export class CatalogController {
  constructor(private readonly catalogs: CatalogService) {}

  @MessagePattern(Subjects.catalogGet)
  get(payload: unknown): Promise<Reply<CatalogGetReply>> {
    return answer(async () => {
      const request = parsePayload(CatalogGetRequest, payload);
      return { catalogs: await this.catalogs.catalogs(request.repository, request.commit) };
    });
  }

  @MessagePattern(Subjects.catalogContent)
  content(payload: unknown): Promise<Reply<CatalogContentReply>> {
    return answer(() => {
      const request = parsePayload(CatalogContentRequest, payload);
      return this.catalogs.content(request.repository, request.commit, request.path);
    });
  }

  /** A peer published a new commit: standby replicas catch up so any of them can answer. */
  @EventPattern(Subjects.catalogUpdated)
  async updated(payload: unknown): Promise<void> {
    const event = CatalogUpdatedEvent.safeParse(payload);
    if (event.success) await this.catalogs.sync(event.data.repository).catch(() => undefined);
  }
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Push webhooks: GitHub/Gitea (`X-Hub-Signature-256: sha256=<hmac>`, `X-Gitea-Signature`),
 * GitLab (`X-Gitlab-Token`). A valid signature syncs the repository at once.
 */
@Controller('hooks/git')
export class WebhookController {
  constructor(
    @Inject(CONFIG) private readonly config: ConfigHolder,
    private readonly catalogs: CatalogService,
  ) {}

  @Post(':repository')
  @HttpCode(202)
  receive(@Param('repository') name: string, @Req() req: Request & { rawBody?: Buffer }, @Res({ passthrough: true }) res: Response): { status: string } {
    const repository = this.config.current.repositories.find((r) => r.name === name);
    if (!repository?.webhookSecret) {
      res.status(404);
      return { status: 'no webhook is configured for this repository' };
    }
    const secret = resolveSecret(repository.webhookSecret);
    const body = req.rawBody ?? Buffer.alloc(0);
    const expected = createHmac('sha256', secret).update(body).digest('hex');
    const header = (key: string) => {
      const value = req.headers[key];
      return typeof value === 'string' ? value : undefined;
    };
    const hub = header('x-hub-signature-256') ?? header('x-rungate-signature');
    const valid =
      (hub !== undefined && safeEqual(hub, `sha256=${expected}`)) ||
      (header('x-gitea-signature') !== undefined && safeEqual(header('x-gitea-signature') as string, expected)) ||
      (header('x-gitlab-token') !== undefined && safeEqual(header('x-gitlab-token') as string, secret));
    if (!valid) {
      res.status(401);
      return { status: 'invalid signature' };
    }
    void this.catalogs.sync(name, { force: true }).catch(() => undefined);
    return { status: 'sync started' };
  }
}

@Controller('status')
export class StatusController {
  constructor(private readonly catalogs: CatalogService) {}

  @Get()
  status(): Record<string, unknown> {
    return { repositories: this.catalogs.status() };
  }
}
