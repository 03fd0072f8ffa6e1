import { Inject, Injectable } from '@nestjs/common';
import { RunStatusArguments, RungateError, type AuthorizeReply, type AuthorizeRequest, type RunStatusResult } from '@rungate/contracts';
import { slotOf, type ApprovalRunRecord } from '@rungate/persistence';
import { guardrailsHold, mayFollowHeldRuns } from '@rungate/policy';
import { CONFIG, type ConfigHolder } from '@rungate/runtime';
import { CatalogStore } from './catalog.store';
import { HeldRuns } from './held-runs';
import { Refusal } from './refusal';

/** The state of a held run as its requester follows it: decisions without who made them (that is for approvers). */
export function runStatusOf(run: ApprovalRunRecord): RunStatusResult {
  const { outcome } = run;
  return {
    runId: run.runId,
    state: run.state,
    expiresAt: run.expiresAt,
    ...slotOf(run),
    decisions: run.decisions.map(({ verdict, at }) => ({ verdict, at })),
    ...(outcome?.result ? { result: outcome.result } : {}),
    ...(outcome?.errorCode ? { error: { code: outcome.errorCode, message: outcome.error ?? outcome.errorCode } } : {}),
  };
}

function describe(status: RunStatusResult): string {
  const decided = status.decisions.length > 0 ? `; decisions: ${status.decisions.map((d) => `${d.verdict} at ${d.at}`).join(', ')}` : '';
  const error = status.error ? `\n${status.error.code}: ${status.error.message}` : '';
  const result = status.result ? `\n${JSON.stringify(status.result)}` : '';
  const waits = status.state === 'approved' && status.startsAt ? `; it may start in its change window from ${status.startsAt} to ${status.windowEndsAt ?? '?'}` : '';
  return `run ${status.runId}: ${status.state} (expires ${status.expiresAt})${waits}${decided}${error}${result}`;
}

/**
 * `rungate_run_status {runId}` (ADR 18 §2): answered by policy itself, nothing runs. Listed and
 * callable for whoever can call a tool that may be held (one listing decides both), and it
 * answers only the requester's own runs: any other id is UNKNOWN_RUN, as if it did not exist.
 */
@Injectable()
export class RunStatusTool {
  constructor(
    @Inject(CONFIG) private readonly config: ConfigHolder,
    private readonly catalog: CatalogStore,
    private readonly held: HeldRuns,
  ) {}

  async answer(request: AuthorizeRequest): Promise<AuthorizeReply> {
    const { identity, tool } = request;
    const { connections, rules, guardrails } = this.config.current;
    if (!this.held.available || !mayFollowHeldRuns(identity, this.catalog.entries(), connections, rules, guardrailsHold(guardrails))) {
      throw new Refusal(new RungateError('UNKNOWN_TOOL', `unknown tool ${tool}`), 'hidden-tool', {}, { reason: `${identity.user} can call no tool that may be held` });
    }
    const parsed = RunStatusArguments.safeParse(request.arguments);
    if (!parsed.success) {
      throw new Refusal(new RungateError('INVALID_PARAMS', 'runId: required, the run id (1 to 64 characters) a held call answered; no other argument', { parameter: 'runId' }), 'invalid-params');
    }
    const { runId } = parsed.data;
    const run = await (await this.held.store()).get(runId);
    if (!run || run.requester.identity.user !== identity.user) {
      const why = run ? `${identity.user} asked for the status of ${run.requester.identity.user}'s run` : 'no such held run';
      throw new Refusal(new RungateError('UNKNOWN_RUN', `unknown run ${runId}`), 'approval-refused', {}, { reason: why, details: { runId } });
    }
    const status = runStatusOf(run);
    return { effect: 'answered', structuredContent: status, text: describe(status) };
  }
}
