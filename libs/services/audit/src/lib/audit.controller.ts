import { Controller, Get, Logger, Req, Res } from '@nestjs/common';
import { RungateError, type ErrorCode, type Identity } from '@rungate/contracts';
import { actorOf, anonymousActor } from '@rungate/messaging';
import { InvalidCursorError, searchAuditEvents } from '@rungate/persistence';
import { AttemptAudit } from '@rungate/runtime';
import type { Request, Response } from 'express';
import { AuditDatabase } from './audit-database';
import { AuditQueryParams, describeQueryError } from './audit-query';
import { AuditorAuthenticator, auditVisibility } from './auditor-auth';
import { ChainWriter } from './chain-writer';
import { SinkHost } from './sink-host';

const STATUS: Partial<Record<ErrorCode, number>> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  BAD_REQUEST: 400,
  SERVICE_UNAVAILABLE: 503,
  TIMEOUT: 503,
};

/**
 * The audit query API, for the auditor groups: `GET /audit/events` (filters, keyset paging)
 * and `GET /audit/status` (chain writer and sinks). Errors are `{error: {code, message}}`.
 */
@Controller('audit')
export class AuditController {
  private readonly log = new Logger(AuditController.name);

  constructor(
    private readonly auth: AuditorAuthenticator,
    private readonly database: AuditDatabase,
    private readonly writer: ChainWriter,
    private readonly sinks: SinkHost,
    private readonly attempts: AttemptAudit,
  ) {}

  @Get('events')
  events(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.answer(req, res, async (identity) => {
      const parsed = AuditQueryParams.safeParse(req.query);
      if (!parsed.success) throw new RungateError('BAD_REQUEST', describeQueryError(parsed.error));
      const visible = auditVisibility(identity);
      try {
        return await searchAuditEvents(this.database.db, { ...parsed.data, ...(visible ? { visible } : {}) });
      } catch (error) {
        if (error instanceof InvalidCursorError) throw new RungateError('BAD_REQUEST', error.message);
        throw error;
      }
    });
  }

  @Get('status')
  status(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.answer(req, res, async (identity) => {
      // Sink errors and lags are about the whole trail, not the part a narrowed token sees.
      if (auditVisibility(identity)) throw new RungateError('FORBIDDEN', 'the audit status covers the whole trail; a token narrowed to runbooks or connections may not read it');
      return {
        chain: this.writer.status() ?? null,
        sinks: this.sinks.status(),
        ...(this.sinks.lastReloadError ? { sinksReloadError: this.sinks.lastReloadError } : {}),
      };
    });
  }

  private async answer(req: Request, res: Response, serve: (identity: Identity) => Promise<unknown>): Promise<void> {
    let identity: Identity | undefined;
    try {
      identity = await this.auth.identify(req.headers.authorization);
      this.auth.checkReader(identity);
      res.status(200).json(await serve(identity));
    } catch (error) {
      const known = error instanceof RungateError ? error : undefined;
      if (known?.code === 'UNAUTHENTICATED' || known?.code === 'FORBIDDEN') await this.recordRefusal(req, identity, known);
      if (!known) this.log.error(`audit query failed: ${(error as Error).message}`);
      const body = known ? { code: known.code, message: known.message } : { code: 'INTERNAL', message: 'the audit query failed; see the audit service log' };
      const status = known ? (STATUS[known.code] ?? 500) : 500;
      if (status === 401) res.setHeader('WWW-Authenticate', `Bearer realm="rungate-audit", error="invalid_token", error_description="${body.message.replace(/"/g, "'")}"`);
      res.status(status).json({ error: body });
    }
  }

  /** A refused read of the trail is an attempt like any other (ADR 17): who asked, from where, why not. */
  private async recordRefusal(req: Request, identity: Identity | undefined, error: RungateError): Promise<void> {
    const meta = { ip: req.ip, userAgent: req.headers['user-agent'] };
    try {
      await this.attempts.record({
        source: 'audit',
        actor: identity ? actorOf(identity, meta) : anonymousActor(meta),
        code: error.code === 'UNAUTHENTICATED' ? 'unauthenticated' : 'audit-read-refused',
        reason: error.message,
        answered: error.code === 'UNAUTHENTICATED' ? 'http:401' : 'http:403',
        details: { path: req.path },
      });
    } catch (caught) {
      this.log.error(`could not record a refused audit query: ${(caught as Error).message}`);
    }
  }
}
