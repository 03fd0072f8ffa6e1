import { Controller, Get, Inject, Logger, Post, Req, Res } from '@nestjs/common';
import { ERROR_EDGES, RungateError, SESSION_REVIEWED, SessionId, SessionReviewRequest, type Identity } from '@rungate/contracts';
import { rankBacklog, sessionTranscript } from '@rungate/exploration';
import { actorOf, anonymousActor, type AuditSink } from '@rungate/messaging';
import { InvalidCursorError, backlogCounts, listSessions, searchAuditEvents, sessionEvents } from '@rungate/persistence';
import { AUDIT_SINK, AttemptAudit } from '@rungate/runtime';
import type { Request, Response } from 'express';
import type { z } from 'zod';
import { AuditDatabase } from './audit-database';
import { AuditQueryParams, BacklogQueryParams, SessionQueryParams, describeQueryError } from './audit-query';
import { AuditorAuthenticator, auditVisibility } from './auditor-auth';
import { ChainWriter } from './chain-writer';
import { SinkHost } from './sink-host';

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
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
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

  /** Exploration sessions (ADR 19), for auditors and reviewers. */
  @Get('sessions')
  sessions(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.answer(
      req,
      res,
      async (identity) => {
        this.wholeTrail(identity);
        return { sessions: await listSessions(this.database.db, parse(SessionQueryParams, req.query, 'user, agent, since, until, unreviewed, limit')) };
      },
      'reviewer',
    );
  }

  @Get('sessions/:id')
  session(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.answer(
      req,
      res,
      (identity) => {
        this.wholeTrail(identity);
        return this.transcript(req.params['id']);
      },
      'reviewer',
    );
  }

  /** Marks a session reviewed: an audit event naming the reviewer and their comment. Nobody reviews their own. */
  @Post('sessions/:id/review')
  review(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.answer(
      req,
      res,
      async (reviewer) => {
        this.wholeTrail(reviewer);
        const { comment } = parse(SessionReviewRequest, req.body ?? {}, 'comment');
        const transcript = await this.transcript(req.params['id']);
        if (transcript.session.user === reviewer.user) {
          throw new RungateError('FORBIDDEN', `${reviewer.user} explored in this session, so someone else must review it`);
        }
        const event = await this.audit.publish({
          type: SESSION_REVIEWED,
          source: 'audit',
          actor: { user: reviewer.user, groups: reviewer.groups, agent: reviewer.agent, tokenId: reviewer.tokenId, ip: req.ip },
          details: { session: transcript.session.id, comment, calls: transcript.session.calls, explorer: transcript.session.user },
        });
        return { review: { time: event.time, reviewer: reviewer.user, comment } };
      },
      'reviewer',
    );
  }

  /** "Which scripts should exist": denied tools and repeated explorations, ranked. */
  @Get('backlog')
  backlog(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.answer(req, res, async (identity) => {
      this.wholeTrail(identity);
      const query = parse(BacklogQueryParams, req.query, 'since, limit');
      return { items: rankBacklog(await backlogCounts(this.database.db, query), query.limit) };
    });
  }

  /** Sessions span tools and connections: a token narrowed to some runbooks or connections reads none. */
  private wholeTrail(identity: Identity): void {
    if (auditVisibility(identity)) throw new RungateError('FORBIDDEN', 'exploration sessions and the backlog cover the whole trail; a token narrowed to runbooks or connections may not read them');
  }

  private async transcript(id: string | undefined) {
    const session = SessionId.safeParse(id);
    if (!session.success) throw new RungateError('BAD_REQUEST', 'a session id is ses_ and 24 hex digits (rungate sessions list)');
    const transcript = sessionTranscript(session.data, await sessionEvents(this.database.db, session.data));
    if (!transcript) throw new RungateError('SESSION_NOT_FOUND', `no exploration session ${session.data}`);
    return transcript;
  }

  private async answer(req: Request, res: Response, serve: (identity: Identity) => Promise<unknown>, as: 'auditor' | 'reviewer' = 'auditor'): Promise<void> {
    let identity: Identity | undefined;
    try {
      identity = await this.auth.identify(req.headers.authorization);
      this.auth.checkReader(identity, as);
      res.status(200).json(await serve(identity));
    } catch (error) {
      const known = error instanceof RungateError ? error : undefined;
      if (known?.code === 'UNAUTHENTICATED' || known?.code === 'FORBIDDEN') await this.recordRefusal(req, identity, known);
      if (!known) this.log.error(`audit query failed: ${(error as Error).message}`);
      const body = known ? { code: known.code, message: known.message } : { code: 'INTERNAL', message: 'the audit query failed; see the audit service log' };
      const status = ERROR_EDGES[known?.code ?? 'INTERNAL'].http;
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

/** `fields`: what the request may carry, named when it carries something else. */
function parse<T extends z.ZodType>(schema: T, input: unknown, fields: string): z.output<T> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new RungateError('BAD_REQUEST', describeQueryError(parsed.error, fields));
  return parsed.data;
}

