import { Controller, Get, Inject, Logger, Post, Req, Res } from '@nestjs/common';
import { ApprovalsReply, ApprovalsRequest, ERROR_EDGES, RungateError, Subjects, type ApprovalRun, type AttemptCode } from '@rungate/contracts';
import { actorOf, isTransportError, withContext, type Bus } from '@rungate/messaging';
import { BUS } from '@rungate/runtime';
import type { Request, Response } from 'express';
import type { z } from 'zod';
import { BearerGate, metaOf, type BearerRefusal } from './bearer-gate';
import { BodyNotJsonError, BodyTooLargeError, readJsonBody } from './body';
import { EdgeAttempts } from './edge-attempts';
import type { Caller } from './identity.guard';

/** A decision's body is a comment or a reason of at most 1000 characters: 16 KiB holds any of them, escaped. */
export const MAX_DECISION_BODY_BYTES = 16 * 1024;
/** How long policy may take to answer; a decision that completes a quorum answers once the run is under way. */
const POLICY_TIMEOUT_MS = 10_000;

type Decision = 'approve' | 'reject';

/** The one key each decision's body may carry, and what is wrong when the contract refuses it. */
const DECISION_BODY: Record<Decision, { key: 'comment' | 'reason'; invalid: string }> = {
  approve: { key: 'comment', invalid: 'comment is optional text of at most 1000 characters' },
  reject: { key: 'reason', invalid: 'reason is required: text of 1 to 1000 characters saying why the run must not run' },
};

/** A request refused here, before policy was asked: answered 400 and recorded as an attempt. */
class RefusedAtEdge extends Error {
  constructor(
    message: string,
    readonly attempt: AttemptCode = 'malformed-request',
  ) {
    super(message);
  }
}

function errorBody(code: RungateError['code'], message: string): { error: { code: RungateError['code']; message: string } } {
  return { error: { code, message } };
}

/** The first problem zod found in a request, named by its key. */
function firstProblem(error: z.ZodError): { key: string; message: string } {
  const issue = error.issues[0];
  return { key: issue?.path.map(String).join('.') ?? '', message: issue?.message ?? 'invalid' };
}

/**
 * The approver API (ADR 18 §4), the JSON contract the CLI and other clients build on:
 * `GET /v1/runs?state=pending`, `GET /v1/runs/:id`, `POST /v1/runs/:id/approve {comment?}`,
 * `POST /v1/runs/:id/reject {reason}`. The same bearer tokens as MCP (BearerGate); each
 * request goes to policy over rungate.policy.approvals.v1, which decides, stores and audits.
 * What this edge refuses itself — no or a bad token, a body or query the contract does not
 * take, policy unreachable — never reaches policy and is recorded here as an attempt. Errors
 * are `{error: {code, message}}` with the code's HTTP status (ERROR_EDGES).
 */
@Controller('v1/runs')
export class RunsController {
  private readonly log = new Logger(RunsController.name);

  constructor(
    @Inject(BUS) private readonly bus: Bus,
    private readonly gate: BearerGate,
    private readonly attempts: EdgeAttempts,
  ) {}

  @Get()
  list(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.serve(req, res, async (caller) => {
      const unknown = Object.keys(req.query).filter((key) => key !== 'state');
      if (unknown.length > 0) throw new RefusedAtEdge(`unknown query parameter(s): ${unknown.join(', ')}; the list takes state=pending only`);
      const state = req.query['state'];
      if (state !== undefined && state !== 'pending') {
        throw new RefusedAtEdge('only pending runs are listed (state=pending, the default); ask for a run in any other state by its id: GET /v1/runs/RUN_ID');
      }
      return this.ask({ action: 'list', identity: caller.identity, meta: metaOf(req) });
    });
  }

  @Get(':id')
  get(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.serve(req, res, async (caller) => this.one(await this.ask(this.request(req, caller, { action: 'get' }))));
  }

  @Post(':id/approve')
  approve(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.serve(req, res, async (caller) => this.one(await this.ask(this.request(req, caller, { action: 'approve', ...(await this.decisionBody(req, 'approve')) }))));
  }

  @Post(':id/reject')
  reject(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.serve(req, res, async (caller) => this.one(await this.ask(this.request(req, caller, { action: 'reject', ...(await this.decisionBody(req, 'reject')) }))));
  }

  /** Authenticates, runs `work`, and answers its result as JSON or its error as an ErrorBody. */
  private serve(req: Request, res: Response, work: (caller: Caller) => Promise<unknown>): Promise<void> {
    const traceparent = req.headers['traceparent'];
    return withContext(typeof traceparent === 'string' ? traceparent : undefined, async () => {
      res.setHeader('Cache-Control', 'no-store');
      const identified = await this.gate.identify(req, { path: req.path });
      if ('refusal' in identified) return this.refuseBearer(res, identified.refusal);
      const { caller } = identified;
      try {
        res.status(200).json(await work(caller));
      } catch (error) {
        await this.answerError(req, res, caller, error);
      }
    });
  }

  /** The request for one run, validated by the contract itself (the run id's form, the comment's or reason's length). */
  private request(req: Request, caller: Caller, action: { action: 'get' | Decision; comment?: unknown; reason?: unknown }): ApprovalsRequest {
    const parsed = ApprovalsRequest.safeParse({ ...action, identity: caller.identity, meta: metaOf(req), runId: req.params['id'] });
    if (parsed.success) return parsed.data;
    const { key } = firstProblem(parsed.error);
    if (key === 'runId') throw new RefusedAtEdge('a run id is 1 to 64 characters, as the approval_required result or rungate runs --pending gives it');
    throw new RefusedAtEdge(action.action === 'get' ? `the request is invalid (${key})` : DECISION_BODY[action.action].invalid);
  }

  /** A decision's JSON body: an object with at most its one key. */
  private async decisionBody(req: Request, decision: Decision): Promise<Record<string, unknown>> {
    const { key } = DECISION_BODY[decision];
    let body: unknown;
    try {
      body = await readJsonBody(req, MAX_DECISION_BODY_BYTES);
    } catch (error) {
      if (error instanceof BodyTooLargeError) throw new RefusedAtEdge(`the request body is over ${MAX_DECISION_BODY_BYTES} bytes; a ${key} is at most 1000 characters`, 'request-too-large');
      if (error instanceof BodyNotJsonError) throw new RefusedAtEdge(`the request body is not JSON; send a JSON object such as {"${key}": "…"}`);
      throw new RefusedAtEdge('could not read the request body');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new RefusedAtEdge(`the request body must be a JSON object such as {"${key}": "…"}`);
    const unknown = Object.keys(body).filter((name) => name !== key);
    if (unknown.length > 0) throw new RefusedAtEdge(`unknown key(s) in the body: ${unknown.join(', ')}; ${decision} takes ${key} only`);
    return body as Record<string, unknown>;
  }

  private ask(request: ApprovalsRequest): Promise<ApprovalsReply> {
    return this.bus.request(Subjects.policyApprovals, request, ApprovalsReply, { timeoutMs: POLICY_TIMEOUT_MS });
  }

  /** get, approve and reject answer the one run, after the action. */
  private one(reply: ApprovalsReply): ApprovalRun {
    const [run] = reply.runs;
    if (!run) throw new RungateError('UNKNOWN_RUN', 'no such run, or none you may see');
    return run;
  }

  private async answerError(req: Request, res: Response, caller: Caller, error: unknown): Promise<void> {
    const actor = actorOf(caller.identity, metaOf(req));
    if (error instanceof RefusedAtEdge) {
      await this.attempts.record({ actor, code: error.attempt, reason: error.message, answered: 'http:400', details: { path: req.path } });
      // A body cut short is not drained: the connection goes with the answer.
      if (error.attempt === 'request-too-large') res.setHeader('Connection', 'close');
      if (!res.headersSent && !res.destroyed) res.status(400).json(errorBody('BAD_REQUEST', error.message));
      return;
    }
    if (isTransportError(error)) {
      // Policy never answered: nothing was decided, and nobody else records this.
      this.log.warn(`policy did not answer an approvals request: ${error.message}`);
      await this.attempts.record({ actor, code: 'policy-unavailable', reason: error.message, answered: 'http:503', details: { path: req.path } });
      res.status(503).json(errorBody('SERVICE_UNAVAILABLE', 'policy cannot be reached right now; nothing was decided. Retry shortly'));
      return;
    }
    if (error instanceof RungateError) {
      // Policy's own refusal (it records those): its code and message, as it worded them for the caller.
      res.status(ERROR_EDGES[error.code].http).json(errorBody(error.code, error.message));
      return;
    }
    this.log.error(`an approvals request failed: ${(error as Error).message}`);
    await this.attempts.record({ actor, code: 'internal', reason: `the approvals request failed: ${(error as Error).message}`, answered: 'http:500', details: { path: req.path } });
    res.status(500).json(errorBody('INTERNAL', 'the request failed; see the gateway log'));
  }

  /**
   * 401 with a Bearer challenge; 429 with Retry-After for a source sending too many failing
   * tokens (no error code says "slow down": it is answered as the token failures it counts).
   */
  private refuseBearer(res: Response, refusal: BearerRefusal): void {
    switch (refusal.kind) {
      case 'rate-limited':
        res.setHeader('Retry-After', String(refusal.retryAfterSeconds));
        res.status(429).json(errorBody('UNAUTHENTICATED', `too many failed bearer tokens from this address; retry in ${refusal.retryAfterSeconds} s`));
        return;
      case 'unauthenticated':
        res.setHeader('WWW-Authenticate', refusal.missing ? 'Bearer realm="rungate"' : `Bearer realm="rungate", error="invalid_token", error_description="${refusal.error.message.replace(/["\\]/g, '')}"`);
        res.status(401).json(errorBody('UNAUTHENTICATED', refusal.missing ? 'missing bearer token: send "Authorization: Bearer <token>" with a human\'s own token' : refusal.error.message));
        return;
      case 'unavailable':
        this.log.warn(`authentication unavailable: ${refusal.message}`);
        res.status(503).json(errorBody('SERVICE_UNAVAILABLE', 'the gateway cannot verify tokens right now; retry shortly'));
    }
  }
}
