import { Controller, Get, Inject, Logger, Post, Req, Res } from '@nestjs/common';
import { AgentTokensReply, ApprovalsReply, ApprovalsRequest, CatalogViewReply, RungateError, SessionId, Subjects, type AgentTokensRequest, type Identity, type SessionSummary, type SessionTranscript, type ToolDefinition } from '@rungate/contracts';
import { actorOf, anonymousActor, type AuditSink, type Bus } from '@rungate/messaging';
import { AUDIT_SINK, BUS, CONFIG, readRawBody, type ConfigHolder } from '@rungate/runtime';
import type { Request, Response } from 'express';
import { EdgeAttempts } from '../edge-attempts';
import { Authenticator } from '../identity.guard';
import { ToolCalls } from '../tool-calls';
import { approvalPage, approvalsPage } from './approvals-page';
import { asset } from './assets';
import { AuditReader } from './audit-reader';
import { html, type Html } from './html';
import {
  AUDIT_FILTERS,
  CONSOLE_PATH,
  auditPage,
  catalogPage,
  layout,
  loginPage,
  notice,
  runPage,
  runsPage,
  sessionPage,
  sessionsPage,
  signedInHead,
  signedInPage,
  summarizeRuns,
  tokensPage,
  TOKEN_TTLS,
  type AuditFilters,
  type AuditRow,
  type NavKey,
  type Viewer,
} from './pages';
import { OidcLogin } from './oidc-login';
import { ConsoleSessions, csrfMatches, type ConsoleSession } from './sessions';

const COOKIE = 'rungate_console';
/** Binds an OIDC sign-in's state to the browser that started it; Lax, as the issuer's redirect back is cross-site. */
const OIDC_COOKIE = 'rungate_console_oidc';
const OIDC_PATH = `${CONSOLE_PATH}/oidc`;
/** Scripts and styles from this origin only, nothing inline, no frames, forms post back here only. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const MAX_FORM_BYTES = 16 * 1024;
/** Most events one export carries; a larger one is to be narrowed (or read with rungate audit search). */
const EXPORT_LIMIT = 10_000;
const RUN_ID = /^[A-Za-z0-9_-]{1,128}$/;

interface Signed {
  id: string;
  session: ConsoleSession;
  identity: Identity;
  viewer: Viewer;
}

type AuditPage = { events: AuditRow[]; nextCursor?: string };

/** What an approvals page asks policy, before the identity and request meta are added. */
type ApprovalAction = { action: 'get'; runId: string } | { action: 'approve'; runId: string; comment?: string } | { action: 'reject'; runId: string; reason: string };

function metaOf(req: Request): { ip?: string; userAgent?: string } {
  return { ...(req.ip ? { ip: req.ip } : {}), ...(req.headers['user-agent'] ? { userAgent: req.headers['user-agent'] } : {}) };
}

/** A refusal as the page shows it: policy's message and its code (SELF_APPROVAL, NOT_AN_APPROVER…). */
function refusalText(error: RungateError): string {
  return `${error.message} (${error.code})`;
}

function cookieOf(req: Request, cookie = COOKIE): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === cookie) return value.join('=');
  }
  return undefined;
}

function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return name === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name);
}

function filtersOf(query: Request['query'], names: readonly string[]): AuditFilters {
  const filters: AuditFilters = {};
  for (const name of names) {
    const value = query[name];
    if (typeof value === 'string' && value.trim() !== '') filters[name as keyof AuditFilters] = value.trim().slice(0, 512);
  }
  return filters;
}

/**
 * The web console (ADR 23): server-rendered pages at /console over what the MCP endpoint and
 * the audit API already decide. The signed-in user's bearer stays in the gateway; every page
 * asks policy who it belongs to (a revoked token signs the browser out), the catalog is
 * policy's tools/list for that identity, and the audit, run and session pages are the audit
 * API's answers to that same bearer. Every state-changing request is a POST from this origin
 * carrying the session's CSRF token.
 */
@Controller('console')
export class ConsoleController {
  private readonly log = new Logger(ConsoleController.name);
  private readonly reader: AuditReader;
  private readonly oidc = new OidcLogin();

  constructor(
    @Inject(CONFIG) private readonly config: ConfigHolder,
    @Inject(AUDIT_SINK) private readonly audit: AuditSink,
    @Inject(BUS) private readonly bus: Bus,
    private readonly sessions: ConsoleSessions,
    private readonly authenticator: Authenticator,
    private readonly toolCalls: ToolCalls,
    private readonly attempts: EdgeAttempts,
  ) {
    this.reader = new AuditReader(() => this.config.current.console.auditUrl);
  }

  @Get()
  root(@Req() req: Request, @Res() res: Response): void {
    if (!this.enabled(res)) return;
    res.redirect(303, `${CONSOLE_PATH}/${this.sessions.get(cookieOf(req)) ? 'catalog' : 'login'}`);
  }

  @Get('assets/:name')
  assets(@Req() req: Request, @Res() res: Response): void {
    if (!this.enabled(res)) return;
    const found = asset(String(req.params['name']));
    this.secure(res);
    if (!found) {
      res.status(404).type('text/plain').send('not found');
      return;
    }
    res.setHeader('Cache-Control', 'public, max-age=3600');
    res.status(200).type(found.type).send(found.body);
  }

  @Get('login')
  loginForm(@Req() req: Request, @Res() res: Response): void {
    if (!this.enabled(res)) return;
    const code = typeof req.query['code'] === 'string' ? req.query['code'].slice(0, 128) : undefined;
    const signedOut = req.query['signed_out'] === 'expired' ? 'Your sign-in ended (expired, or its token was revoked). Sign in again.' : undefined;
    this.page(res, 200, 'Sign in', 'login', undefined, loginPage(code, signedOut, this.issuer()));
  }

  @Get('oidc/start')
  async oidcStart(@Req() req: Request, @Res() res: Response): Promise<void> {
    if (!this.enabled(res)) return;
    const { oidc, console } = this.config.current;
    if (!oidc || !console.oidc) return this.page(res, 404, 'Sign in', 'login', undefined, loginPage(undefined, 'Sign-in with an issuer is not configured here (console.oidc).'));
    if (!this.transportAllowsCookie(req)) return this.page(res, 400, 'Sign in', 'login', undefined, loginPage(undefined, 'The console signs in only over HTTPS (or on this machine): set gateway.publicUrl to its https:// address.'));
    try {
      const { location, state } = await this.oidc.start(oidc, console.oidc, `${this.origin(req)}${OIDC_PATH}/callback`);
      res.setHeader('Set-Cookie', `${OIDC_COOKIE}=${state}; Path=${OIDC_PATH}; HttpOnly; Secure; SameSite=Lax; Max-Age=600`);
      this.secure(res);
      res.redirect(303, location);
    } catch (error) {
      this.refused(res, 503, error instanceof RungateError ? error.message : 'the issuer cannot be reached');
    }
  }

  @Get('oidc/callback')
  async oidcCallback(@Req() req: Request, @Res() res: Response): Promise<void> {
    if (!this.enabled(res)) return;
    const meta = { ip: req.ip, userAgent: req.headers['user-agent'] };
    const { oidc, console } = this.config.current;
    if (!oidc || !console.oidc) return this.page(res, 404, 'Sign in', 'login', undefined, loginPage(undefined, 'Sign-in with an issuer is not configured here (console.oidc).'));
    const state = typeof req.query['state'] === 'string' ? req.query['state'] : '';
    const code = typeof req.query['code'] === 'string' ? req.query['code'] : '';
    res.setHeader('Set-Cookie', `${OIDC_COOKIE}=; Path=${OIDC_PATH}; HttpOnly; Secure; SameSite=Lax; Max-Age=0`);
    let bearer: string | undefined;
    let why = 'the sign-in did not start in this browser, was used before or took too long';
    if (state && code && cookieOf(req, OIDC_COOKIE) === state) {
      try {
        bearer = await this.oidc.finish(oidc, console.oidc, state, code);
      } catch (error) {
        why = error instanceof RungateError ? error.message : 'the issuer did not exchange the code';
      }
    }
    const opened = bearer ? this.sessions.open(bearer, '') : undefined;
    const identity = opened ? await this.identify(opened.session).catch(() => undefined) : undefined;
    if (!opened || !identity) {
      if (opened) {
        this.sessions.end(opened.id);
        why = 'policy does not accept the access token the issuer gave (its audience, issuer or signature)';
      }
      await this.attempts.record({ actor: anonymousActor(meta), code: 'unauthenticated', reason: `a console OIDC sign-in failed: ${why}`, answered: 'http:401', details: { path: `${OIDC_PATH}/callback` } });
      return this.page(res, 401, 'Sign in', 'login', undefined, loginPage(undefined, `The sign-in failed: ${why}. Try again.`, this.issuer()));
    }
    opened.session.user = identity.user;
    if (!(await this.recordSignIn(res, opened.id, identity, meta, 'oidc'))) return;
    res.setHeader('Set-Cookie', [
      `${OIDC_COOKIE}=; Path=${OIDC_PATH}; HttpOnly; Secure; SameSite=Lax; Max-Age=0`,
      `${COOKIE}=${opened.id}; Path=${CONSOLE_PATH}; HttpOnly; Secure; SameSite=Strict; Max-Age=${Math.floor(console.sessionTtl / 1000)}`,
    ]);
    this.page(res, 200, 'Signed in', 'login', undefined, signedInPage(), signedInHead());
  }

  @Post('login')
  async login(@Req() req: Request, @Res() res: Response): Promise<void> {
    if (!this.enabled(res)) return;
    const meta = { ip: req.ip, userAgent: req.headers['user-agent'] };
    const form = await this.form(req, res);
    if (!form) return;
    if (!this.sameOrigin(req)) return this.refused(res, 403, 'This form must be sent from the console itself.');
    if (!this.transportAllowsCookie(req)) {
      return this.page(res, 400, 'Sign in', 'login', undefined, loginPage(undefined, 'The console signs in only over HTTPS (or on this machine): set gateway.publicUrl to its https:// address.'));
    }
    const code = form.get('code') ?? '';
    const redeemed = code ? this.sessions.redeem(code) : undefined;
    const identity = redeemed ? await this.identify(redeemed.session).catch(() => undefined) : undefined;
    if (!redeemed || !identity) {
      if (redeemed) this.sessions.end(redeemed.id);
      await this.attempts.record({ actor: anonymousActor(meta), code: 'unauthenticated', reason: 'a console login link that is unknown, used before or expired', answered: 'http:401', details: { path: `${CONSOLE_PATH}/login` } });
      return this.page(res, 401, 'Sign in', 'login', undefined, loginPage(undefined, 'This login link is not valid: it was used before, has expired, or was never issued. Ask for a new one.'));
    }
    if (!(await this.recordSignIn(res, redeemed.id, identity, meta, 'login-link'))) return;
    res.setHeader('Set-Cookie', `${COOKIE}=${redeemed.id}; Path=${CONSOLE_PATH}; HttpOnly; Secure; SameSite=Strict; Max-Age=${Math.floor(this.config.current.console.sessionTtl / 1000)}`);
    res.redirect(303, `${CONSOLE_PATH}/catalog`);
  }

  @Post('logout')
  async logout(@Req() req: Request, @Res() res: Response): Promise<void> {
    const signed = await this.signedPost(req, res);
    if (!signed) return;
    this.sessions.end(signed.id);
    res.setHeader('Set-Cookie', `${COOKIE}=; Path=${CONSOLE_PATH}; HttpOnly; Secure; SameSite=Strict; Max-Age=0`);
    res.redirect(303, `${CONSOLE_PATH}/login`);
  }

  @Get('catalog')
  async catalog(@Req() req: Request, @Res() res: Response): Promise<void> {
    const signed = await this.signed(req, res);
    if (!signed) return;
    const tools: ToolDefinition[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.toolCalls.list(signed.identity, cursor);
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    const view = await this.bus.request(Subjects.policyCatalogView, { identity: signed.identity }, CatalogViewReply, { timeoutMs: 10_000 });
    this.page(res, 200, 'Catalog', 'catalog', signed.viewer, catalogPage(tools, view));
  }

  @Get('audit')
  async auditSearch(@Req() req: Request, @Res() res: Response): Promise<void> {
    const signed = await this.signed(req, res);
    if (!signed) return;
    const filters = filtersOf(req.query, AUDIT_FILTERS);
    const query = new URLSearchParams(filters);
    const answer = await this.reader.get<AuditPage>(signed.session.bearer, '/audit/events', new URLSearchParams({ ...filters, order: 'desc', limit: '100' }));
    const result = answer.ok ? { rows: answer.body.events, more: answer.body.nextCursor !== undefined } : { refused: answer.message };
    this.page(res, 200, 'Audit', 'audit', signed.viewer, auditPage(filters, result, query.size > 0 ? `?${query}` : ''));
  }

  @Get('audit/export')
  async auditExport(@Req() req: Request, @Res() res: Response): Promise<void> {
    const signed = await this.signed(req, res);
    if (!signed) return;
    const filters = filtersOf(req.query, AUDIT_FILTERS);
    const lines: string[] = [];
    let cursor: string | undefined;
    do {
      const answer = await this.reader.get<AuditPage>(signed.session.bearer, '/audit/events', new URLSearchParams({ ...filters, order: 'asc', limit: '1000', ...(cursor ? { cursor } : {}) }));
      if (!answer.ok) return this.page(res, 200, 'Audit', 'audit', signed.viewer, notice(answer.message, true));
      for (const row of answer.body.events) lines.push(JSON.stringify(row));
      cursor = answer.body.nextCursor;
    } while (cursor !== undefined && lines.length < EXPORT_LIMIT);
    if (cursor !== undefined) {
      return this.page(res, 200, 'Audit', 'audit', signed.viewer, notice(`More than ${EXPORT_LIMIT} events match: narrow the search (since, until) or use rungate audit search.`, true));
    }
    this.secure(res);
    res.setHeader('Content-Disposition', 'attachment; filename="rungate-audit.jsonl"');
    res.status(200).type('application/x-ndjson').send(lines.length > 0 ? `${lines.join('\n')}\n` : '');
  }

  @Get('runs')
  async runs(@Req() req: Request, @Res() res: Response): Promise<void> {
    const signed = await this.signed(req, res);
    if (!signed) return;
    const filters = filtersOf(req.query, ['user', 'agent', 'runbook', 'outcome', 'since']);
    const { outcome, ...search } = filters;
    const answer = await this.reader.get<AuditPage>(signed.session.bearer, '/audit/events', new URLSearchParams({ ...search, type: 'audit.run.*', order: 'desc', limit: '500' }));
    const result = answer.ok ? { runs: summarizeRuns(answer.body.events).filter((run) => outcome === undefined || run.status === outcome) } : { refused: answer.message };
    this.page(res, 200, 'Runs', 'runs', signed.viewer, runsPage(filters, result));
  }

  @Get('runs/:id')
  async run(@Req() req: Request, @Res() res: Response): Promise<void> {
    const signed = await this.signed(req, res);
    if (!signed) return;
    const runId = String(req.params['id']);
    if (!RUN_ID.test(runId)) return this.page(res, 404, 'Run', 'runs', signed.viewer, notice('No such run.', true));
    const answer = await this.reader.get<AuditPage>(signed.session.bearer, '/audit/events', new URLSearchParams({ runId, order: 'asc', limit: '1000' }));
    if (!answer.ok) return this.page(res, 200, 'Run', 'runs', signed.viewer, notice(answer.message, true));
    if (answer.body.events.length === 0) return this.page(res, 404, 'Run', 'runs', signed.viewer, notice(`No run ${runId} that you may see.`, true));
    this.page(res, 200, `Run ${runId}`, 'runs', signed.viewer, runPage(runId, answer.body.events));
  }

  @Get('sessions')
  async explorationSessions(@Req() req: Request, @Res() res: Response): Promise<void> {
    const signed = await this.signed(req, res);
    if (!signed) return;
    const answer = await this.reader.get<{ sessions: SessionSummary[] }>(signed.session.bearer, '/audit/sessions');
    this.page(res, 200, 'Exploration sessions', 'sessions', signed.viewer, sessionsPage(answer.ok ? answer.body : { refused: answer.message }));
  }

  @Get('sessions/:id')
  async explorationSession(@Req() req: Request, @Res() res: Response): Promise<void> {
    const signed = await this.signed(req, res);
    if (!signed) return;
    await this.showSession(res, signed, String(req.params['id']), undefined);
  }

  @Post('sessions/:id/review')
  async review(@Req() req: Request, @Res() res: Response): Promise<void> {
    const signed = await this.signedPost(req, res);
    if (!signed) return;
    const id = String(req.params['id']);
    if (!SessionId.safeParse(id).success) return this.page(res, 404, 'Exploration session', 'sessions', signed.viewer, notice('No such session.', true));
    const answer = await this.reader.post<unknown>(signed.session.bearer, `/audit/sessions/${id}/review`, { comment: signed.form.get('comment') ?? '' });
    await this.showSession(res, signed, id, answer.ok ? notice('Marked reviewed.') : notice(answer.message, true));
  }

  @Get('tokens')
  async tokens(@Req() req: Request, @Res() res: Response): Promise<void> {
    const signed = await this.signed(req, res);
    if (!signed) return;
    await this.tokenAction(res, signed, { action: 'list', identity: signed.identity });
  }

  @Post('tokens')
  async createToken(@Req() req: Request, @Res() res: Response): Promise<void> {
    const signed = await this.signedPost(req, res);
    if (!signed) return;
    const { form } = signed;
    const list = (name: string) => {
      const items = (form.get(name) ?? '').split(',').map((item) => item.trim()).filter(Boolean);
      return items.length > 0 ? items : undefined;
    };
    const ttl = TOKEN_TTLS.find(([label]) => label === form.get('ttl'));
    if (!ttl) return this.tokenAction(res, signed, { action: 'list', identity: signed.identity }, notice('Choose one of the lifetimes offered.', true));
    const runbooks = list('runbooks');
    const connections = list('connections');
    const scopes = form.getAll('scope');
    await this.tokenAction(res, signed, {
      action: 'create',
      identity: signed.identity,
      agent: (form.get('agent') ?? '').trim(),
      ttlMs: ttl[1],
      ...(runbooks ? { runbooks } : {}),
      ...(connections ? { connections } : {}),
      ...(scopes.length > 0 ? { scopes: scopes as 'audit:read'[] } : {}),
    });
  }

  @Post('tokens/:id/revoke')
  async revokeToken(@Req() req: Request, @Res() res: Response): Promise<void> {
    const signed = await this.signedPost(req, res);
    if (!signed) return;
    const id = String(req.params['id']);
    await this.tokenAction(res, signed, { action: 'revoke', identity: signed.identity, id }, notice(`Revoked ${id}.`));
  }

  @Get('approvals')
  async approvals(@Req() req: Request, @Res() res: Response): Promise<void> {
    const signed = await this.signed(req, res);
    if (!signed) return;
    let body: Html;
    try {
      body = approvalsPage(await this.askApprovals({ action: 'list', identity: signed.identity, meta: metaOf(req) }));
    } catch (error) {
      if (!(error instanceof RungateError)) throw error;
      body = approvalsPage({ refused: refusalText(error) });
    }
    this.page(res, 200, 'Approvals', 'approvals', signed.viewer, body);
  }

  @Get('approvals/:id')
  async approval(@Req() req: Request, @Res() res: Response): Promise<void> {
    const signed = await this.signed(req, res);
    if (!signed) return;
    await this.approvalAction(req, res, signed, { action: 'get', runId: String(req.params['id']) });
  }

  @Post('approvals/:id/approve')
  async approve(@Req() req: Request, @Res() res: Response): Promise<void> {
    const signed = await this.signedPost(req, res);
    if (!signed) return;
    const comment = (signed.form.get('comment') ?? '').trim();
    await this.approvalAction(req, res, signed, { action: 'approve', runId: String(req.params['id']), ...(comment ? { comment } : {}) }, notice('Approved.'));
  }

  @Post('approvals/:id/reject')
  async reject(@Req() req: Request, @Res() res: Response): Promise<void> {
    const signed = await this.signedPost(req, res);
    if (!signed) return;
    await this.approvalAction(req, res, signed, { action: 'reject', runId: String(req.params['id']), reason: (signed.form.get('reason') ?? '').trim() }, notice('Rejected.'));
  }

  /**
   * One held run, after the action asked of policy, which decides (and records a refusal:
   * not an approver, one's own run, no longer pending). A form policy would not take never
   * reaches it, so it is recorded here. A refused action shows the run as it stands.
   */
  private async approvalAction(req: Request, res: Response, signed: Signed, action: ApprovalAction, done?: Html): Promise<void> {
    if (!RUN_ID.test(action.runId)) return this.page(res, 404, 'Approval', 'approvals', signed.viewer, notice('No such run.', true));
    const parsed = ApprovalsRequest.safeParse({ ...action, identity: signed.identity, meta: metaOf(req) });
    if (!parsed.success) {
      const problem = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'request'}: ${issue.message}`).join('; ');
      await this.attempts.record({ actor: actorOf(signed.identity, metaOf(req)), code: 'malformed-request', reason: `a console approval form policy would not take: ${problem}`, answered: 'http:200', details: { path: req.path } });
      return this.showApproval(res, signed, action.runId, notice(`Not sent: ${action.action === 'reject' ? 'a rejection needs a reason of at most 1000 characters' : 'a comment is at most 1000 characters'}.`, true));
    }
    try {
      const [run] = (await this.askApprovals(parsed.data)).runs;
      if (!run) return this.page(res, 404, 'Approval', 'approvals', signed.viewer, notice(`No run ${action.runId} that you may see.`, true));
      this.page(res, 200, `Approval of run ${run.runId}`, 'approvals', signed.viewer, approvalPage(run, signed.viewer, done));
    } catch (error) {
      if (!(error instanceof RungateError)) throw error;
      if (action.action === 'get') return this.page(res, error.code === 'UNKNOWN_RUN' ? 404 : 200, 'Approval', 'approvals', signed.viewer, notice(refusalText(error), true));
      await this.showApproval(res, signed, action.runId, notice(refusalText(error), true));
    }
  }

  /** The run as it stands, with a message about what was (not) done; just the message when policy will not show it. */
  private async showApproval(res: Response, signed: Signed, runId: string, message: Html): Promise<void> {
    const current = await this.askApprovals({ action: 'get', identity: signed.identity, meta: {}, runId }).catch(() => undefined);
    const run = current?.runs[0];
    if (!run) return this.page(res, 200, 'Approval', 'approvals', signed.viewer, message);
    this.page(res, 200, `Approval of run ${run.runId}`, 'approvals', signed.viewer, approvalPage(run, signed.viewer, message));
  }

  private askApprovals(request: ApprovalsRequest): Promise<ApprovalsReply> {
    return this.bus.request(Subjects.policyApprovals, request, ApprovalsReply, { timeoutMs: 10_000 });
  }

  /** Policy does it (the request is validated there, and refused on the record when it must be); the page shows the outcome. */
  private async tokenAction(res: Response, signed: Signed, request: AgentTokensRequest, done?: Html): Promise<void> {
    let body: Html;
    try {
      const reply = await this.bus.request(Subjects.policyTokens, request, AgentTokensReply, { timeoutMs: 10_000 });
      body = tokensPage(signed.viewer, reply, done);
    } catch (error) {
      if (!(error instanceof RungateError)) throw error;
      const listed = request.action === 'list' ? undefined : await this.bus.request(Subjects.policyTokens, { action: 'list', identity: signed.identity }, AgentTokensReply, { timeoutMs: 10_000 }).catch(() => undefined);
      body = listed ? tokensPage(signed.viewer, listed, notice(error.message, true)) : tokensPage(signed.viewer, { refused: error.message });
    }
    // A new token is in this page only: never kept by a cache.
    this.page(res, 200, 'Tokens', 'tokens', signed.viewer, body);
  }

  private async showSession(res: Response, signed: Signed, id: string, message: Html | undefined): Promise<void> {
    if (!SessionId.safeParse(id).success) return this.page(res, 404, 'Exploration session', 'sessions', signed.viewer, notice('No such session.', true));
    const answer = await this.reader.get<SessionTranscript>(signed.session.bearer, `/audit/sessions/${id}`);
    if (!answer.ok) return this.page(res, 200, 'Exploration session', 'sessions', signed.viewer, notice(answer.message, true));
    this.page(res, 200, `Exploration session ${id}`, 'sessions', signed.viewer, sessionPage(answer.body, signed.viewer, message));
  }

  /** A sign-in stands only once it is on the record. */
  private async recordSignIn(res: Response, id: string, identity: Identity, meta: { ip?: string; userAgent?: string }, via: 'login-link' | 'oidc'): Promise<boolean> {
    try {
      await this.audit.publish({ type: 'audit.admin.console.signed_in', source: 'gateway', actor: actorOf(identity, meta), details: { via } });
      return true;
    } catch (error) {
      this.sessions.end(id);
      this.log.error(`could not record a console sign-in: ${(error as Error).message}`);
      this.refused(res, 503, 'The sign-in could not be put on the audit record, so it did not happen. Try again shortly.');
      return false;
    }
  }

  private issuer(): string | undefined {
    const { oidc, console } = this.config.current;
    return oidc && console.oidc ? oidc.issuer : undefined;
  }

  /** The console's origin as the browser addressed it (only loopback without publicUrl, see transportAllowsCookie). */
  private origin(req: Request): string {
    const publicUrl = this.config.current.gateway.publicUrl;
    return publicUrl ? new URL(publicUrl).origin : `http://${req.headers.host ?? '127.0.0.1'}`;
  }

  /** The signed-in browser, or undefined when it was sent to sign in (or told why not). */
  private async signed(req: Request, res: Response): Promise<Signed | undefined> {
    if (!this.enabled(res)) return undefined;
    const id = cookieOf(req);
    const session = this.sessions.get(id);
    if (!id || !session) {
      res.redirect(303, `${CONSOLE_PATH}/login`);
      return undefined;
    }
    let identity: Identity | undefined;
    try {
      identity = await this.identify(session);
    } catch (error) {
      this.log.warn(`console: identity unavailable: ${(error as Error).message}`);
      this.refused(res, 503, 'The console cannot check who you are right now (policy is unreachable); retry shortly.');
      return undefined;
    }
    if (!identity) {
      this.sessions.end(id);
      res.redirect(303, `${CONSOLE_PATH}/login?signed_out=expired`);
      return undefined;
    }
    // Policy says whether this is a human's own credential (identity.human: the sign-in link's token, the console's
    // OIDC client, ADR 18 §3); the console sends the identity as policy gave it and decides nothing about it itself.
    return { id, session, identity, viewer: { user: identity.user, csrf: session.csrf } };
  }

  /** A signed-in POST from this origin with the session's CSRF token, and its form. */
  private async signedPost(req: Request, res: Response): Promise<(Signed & { form: URLSearchParams }) | undefined> {
    const form = await this.form(req, res);
    if (!form) return undefined;
    const signed = await this.signed(req, res);
    if (!signed) return undefined;
    if (!this.sameOrigin(req) || !csrfMatches(signed.session, form.get('_csrf') ?? undefined)) {
      await this.attempts.record({
        actor: actorOf(signed.identity, { ip: req.ip, userAgent: req.headers['user-agent'] }),
        code: 'malformed-request',
        reason: 'a console form without this session\'s CSRF token, or from another origin',
        answered: 'http:403',
        details: { path: req.path },
      });
      this.refused(res, 403, 'This form was not sent from this console session (a missing or stale form token). Reload the page and try again.');
      return undefined;
    }
    return { ...signed, form };
  }

  /** Undefined for a token policy no longer accepts (revoked, expired); throws when policy cannot say. */
  private async identify(session: ConsoleSession): Promise<Identity | undefined> {
    try {
      return (await this.authenticator.authenticate(`Bearer ${session.bearer}`)).identity;
    } catch (error) {
      if (error instanceof RungateError && error.code === 'UNAUTHENTICATED') return undefined;
      throw error;
    }
  }

  private async form(req: Request, res: Response): Promise<URLSearchParams | undefined> {
    if (!this.enabled(res)) return undefined;
    const type = req.headers['content-type'] ?? '';
    if (!type.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
      this.refused(res, 415, 'Console forms are sent as application/x-www-form-urlencoded.');
      return undefined;
    }
    try {
      return new URLSearchParams((await readRawBody(req, MAX_FORM_BYTES)).toString('utf8'));
    } catch {
      this.refused(res, 413, `A console form is at most ${MAX_FORM_BYTES} bytes.`);
      return undefined;
    }
  }

  /**
   * The browser's Origin is this console's: gateway.publicUrl's when configured, else the
   * Host it addressed. A cross-site form carries its own site's Origin, so it never matches.
   */
  private sameOrigin(req: Request): boolean {
    const origin = req.headers.origin;
    if (!origin) return false;
    const publicUrl = this.config.current.gateway.publicUrl;
    if (publicUrl) return new URL(publicUrl).origin === origin;
    const host = req.headers.host;
    return host !== undefined && (origin === `http://${host}` || origin === `https://${host}`);
  }

  /** The session cookie is Secure: browsers keep it over HTTPS, or over plain HTTP on loopback only. */
  private transportAllowsCookie(req: Request): boolean {
    const publicUrl = this.config.current.gateway.publicUrl;
    if (publicUrl) return publicUrl.startsWith('https:') || isLoopback(new URL(publicUrl).host);
    return isLoopback(req.headers.host ?? '');
  }

  private enabled(res: Response): boolean {
    if (this.config.current.console.enabled) return true;
    res.status(404).type('text/plain').send('the web console is turned off here (console.enabled: false)');
    return false;
  }

  private secure(res: Response): void {
    res.setHeader('Content-Security-Policy', CSP);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    // same-origin, not no-referrer: with no-referrer a browser sends its forms with Origin: null, and the origin check refuses them.
    res.setHeader('Referrer-Policy', 'same-origin');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  }

  private page(res: Response, status: number, title: string, active: NavKey, viewer: Viewer | undefined, body: Html, head?: Html): void {
    this.secure(res);
    res.setHeader('Cache-Control', 'no-store');
    res.status(status).type('text/html; charset=utf-8').send(layout(title, active, viewer, body, head));
  }

  private refused(res: Response, status: number, message: string): void {
    this.page(res, status, 'Not done', 'login', undefined, html`${notice(message, true)}<p><a href="${CONSOLE_PATH}">Back to the console</a></p>`);
  }
}
