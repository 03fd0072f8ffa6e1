import { Controller, Get, Inject, Logger, Param, Post, Req, Res } from '@nestjs/common';
import { resolveSecret } from '@rungate/config';
import { verifyWebhook, type RepositoryStatus } from '@rungate/git-catalog';
import type { Bus } from '@rungate/messaging';
import { BUS, CONFIG, type ConfigHolder } from '@rungate/runtime';
import type { Request, Response } from 'express';
import { CatalogRegistry } from './catalog-registry';
import { BodyTooLargeError, MAX_WEBHOOK_BYTES, readRawBody } from './request-body';
import { SYNC_REQUESTED } from './subjects';

/**
 * Push webhooks: `POST /hooks/git/<repository>`, signed with the repository's webhookSecret
 * (GitHub/Gitea/Forgejo/Gogs/Bitbucket HMAC-SHA256 over the raw body, or GitLab's token).
 * A verified delivery makes the active syncer check the remote at once; the payload itself
 * is never trusted for anything else.
 */
@Controller()
export class WebhookController {
  private readonly log = new Logger('GitWebhook');

  constructor(
    @Inject(CONFIG) private readonly config: ConfigHolder,
    @Inject(BUS) private readonly bus: Bus,
    private readonly registry: CatalogRegistry,
  ) {}

  @Post('hooks/git/:repository')
  async receive(@Param('repository') name: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const repository = this.config.current.repositories.find((r) => r.name === name);
    if (!repository) {
      res.status(404).json({ error: `unknown repository ${name}` });
      return;
    }
    if (!repository.webhookSecret) {
      res.status(403).json({ error: `webhooks are not enabled for repository ${name} (it has no webhookSecret)` });
      return;
    }
    let body: Buffer;
    try {
      body = await readRawBody(req, MAX_WEBHOOK_BYTES);
    } catch (error) {
      if (error instanceof BodyTooLargeError) res.status(413).json({ error: `webhook payloads are limited to ${MAX_WEBHOOK_BYTES} bytes` });
      else res.status(400).json({ error: 'could not read the request body' });
      return;
    }
    let secret: string;
    try {
      secret = resolveSecret(repository.webhookSecret);
    } catch (error) {
      this.log.error(`${name}: cannot read the webhook secret: ${(error as Error).message}`);
      res.status(503).json({ error: 'the webhook secret is unavailable' });
      return;
    }
    const verdict = verifyWebhook(req.headers, body, secret);
    if (!verdict.ok) {
      this.log.warn(`${name}: refused a webhook from ${req.ip ?? 'unknown'}: ${verdict.reason}`);
      res.status(401).json({ error: 'invalid webhook signature' });
      return;
    }
    // Whichever replica holds the repository's sync lock acts on it, this one included.
    this.bus.emit(SYNC_REQUESTED, { repository: name });
    void this.registry.requestSync(name);
    res.status(202).json({ status: 'sync requested' });
  }

  /** What each repository serves, for operators (no secrets: errors are redacted). */
  @Get('status')
  status(): { repositories: RepositoryStatus[] } {
    return { repositories: this.registry.status() };
  }
}
