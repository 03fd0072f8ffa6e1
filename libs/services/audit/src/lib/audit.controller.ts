import { Controller, Get, Logger, Req, Res } from '@nestjs/common';
import { RungateError, type ErrorCode } from '@rungate/contracts';
import { InvalidCursorError, searchAuditEvents } from '@rungate/persistence';
import type { Request, Response } from 'express';
import { AuditDatabase } from './audit-database';
import { AuditQueryParams, describeQueryError } from './audit-query';
import { AuditorAuthenticator } from './auditor-auth';
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
  ) {}

  @Get('events')
  events(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.answer(req, res, async () => {
      const parsed = AuditQueryParams.safeParse(req.query);
      if (!parsed.success) throw new RungateError('BAD_REQUEST', describeQueryError(parsed.error));
      try {
        return await searchAuditEvents(this.database.db, parsed.data);
      } catch (error) {
        if (error instanceof InvalidCursorError) throw new RungateError('BAD_REQUEST', error.message);
        throw error;
      }
    });
  }

  @Get('status')
  status(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.answer(req, res, async () => ({
      chain: this.writer.status() ?? null,
      sinks: this.sinks.status(),
      ...(this.sinks.lastReloadError ? { sinksReloadError: this.sinks.lastReloadError } : {}),
    }));
  }

  private async answer(req: Request, res: Response, serve: () => Promise<unknown>): Promise<void> {
    try {
      await this.auth.authenticate(req.headers.authorization);
      res.status(200).json(await serve());
    } catch (error) {
      const known = error instanceof RungateError ? error : undefined;
      if (!known) this.log.error(`audit query failed: ${(error as Error).message}`);
      const body = known ? { code: known.code, message: known.message } : { code: 'INTERNAL', message: 'the audit query failed; see the audit service log' };
      const status = known ? (STATUS[known.code] ?? 500) : 500;
      if (status === 401) res.setHeader('WWW-Authenticate', `Bearer realm="rungate-audit", error="invalid_token", error_description="${body.message.replace(/"/g, "'")}"`);
      res.status(status).json({ error: body });
    }
  }
}
