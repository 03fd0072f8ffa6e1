import type { ApprovalRun, ApprovalState } from '@rungate/contracts';
import { html, type Html } from './html';
import { CONSOLE_PATH, csrfField, livePoller, notice, type Viewer } from './pages';

/** The longest comment or reason policy takes (the contract's limit); the form says so before sending. */
const MAX_COMMENT_CHARS = 1000;

/** States a run leaves by itself (a quorum reached, the executor working): the detail page keeps asking until it ends. */
const MOVING: readonly ApprovalState[] = ['approved', 'executing'];

function requesterOf(run: ApprovalRun): Html {
  return html`${run.requester.user}${run.requester.agent ? html` <span class="muted">via ${run.requester.agent}</span>` : ''}`;
}

function holdsOf(run: ApprovalRun): Html {
  return html`<ul>${run.holds.map((hold) => html`<li>${hold.by === 'rule' ? 'rule' : 'guardrail'} <code>${hold.name}</code>${hold.reason ? html` — ${hold.reason}` : ''}</li>`)}</ul>`;
}

/** The pending runs this user may approve: policy's `list` (in an approver group, never their own), oldest first. */
export function approvalsPage(result: { runs: readonly ApprovalRun[] } | { refused: string }): Html {
  const body =
    'refused' in result
      ? notice(result.refused, true)
      : result.runs.length === 0
        ? notice('Nothing waits for your approval.')
        : html`<table>
<caption class="muted">${result.runs.length} run${result.runs.length === 1 ? '' : 's'} waiting for your approval, oldest first</caption>
<thead><tr><th scope="col">Run</th><th scope="col">Tool</th><th scope="col">Connection</th><th scope="col">Requested by</th><th scope="col">Approvals</th><th scope="col">Requested</th><th scope="col">Expires</th></tr></thead>
<tbody>${result.runs.map(
            (run) => html`<tr><td><a href="${CONSOLE_PATH}/approvals/${run.runId}"><code>${run.runId}</code></a></td><td><code>${run.tool}</code></td><td>${run.connection.name}</td>
<td>${requesterOf(run)}</td><td>${run.approval.approved} of ${run.approval.count}</td><td>${run.createdAt}</td><td>${run.expiresAt}</td></tr>`,
          )}</tbody>
</table>`;
  return html`<p>Runs held until enough approvers say yes: each runs exactly as shown on its page, once approved. Your own runs are never here: nobody approves their own.</p>
${livePoller(`${CONSOLE_PATH}/approvals`, '5s')}<section id="results" aria-label="Pending approvals">${body}</section>`;
}

function outcomeOf(run: ApprovalRun): Html {
  const { outcome } = run;
  if (!outcome) return html``;
  return html`<dt>Outcome</dt><dd>${[outcome.status, outcome.errorCode].filter(Boolean).join(' · ')}${outcome.error ? html`<br><span class="muted">${outcome.error}</span>` : ''}</dd>
${outcome.result ? html`<dt>Result</dt><dd><pre>${JSON.stringify(outcome.result, null, 2)}</pre><span class="muted">masked, as the executor returned it</span></dd>` : ''}`;
}

/**
 * The forms a viewer may send: approve (with an optional comment) and reject (with a reason),
 * only while the run is pending and never on one's own run. Policy refuses a self-approval
 * anyway (SELF_APPROVAL); the page does not offer it.
 */
function decisionForms(run: ApprovalRun, viewer: Viewer): Html {
  if (run.state !== 'pending') return html``;
  if (run.requester.user === viewer.user) {
    return notice(`This is your own run: it waits for ${run.approval.count - run.approval.approved} more approval${run.approval.count - run.approval.approved === 1 ? '' : 's'} from ${run.approval.groups.join(', ')}; you cannot approve it.`);
  }
  return html`<h2>Decide</h2>
<form class="stack" method="post" action="${CONSOLE_PATH}/approvals/${run.runId}/approve">
${csrfField(viewer)}
<label>Comment (optional)<textarea name="comment" rows="2" maxlength="${MAX_COMMENT_CHARS}"></textarea></label>
<button type="submit">Approve</button>
</form>
<form class="stack" method="post" action="${CONSOLE_PATH}/approvals/${run.runId}/reject">
${csrfField(viewer)}
<label>Reason for rejecting<textarea name="reason" rows="2" required maxlength="${MAX_COMMENT_CHARS}"></textarea></label>
<button type="submit">Reject</button>
</form>`;
}

/** One held run as policy stores it: exactly what would run, who asked, who decided, and (once decided) how it ended. */
export function approvalPage(run: ApprovalRun, viewer: Viewer, message?: Html): Html {
  const params = Object.entries(run.params);
  // While the run moves on by itself, htmx asks for this page again and swaps the run in: an approver watches it
  // execute. The poller is inside the run, so an answer whose run has ended brings none, and the asking stops.
  const live = MOVING.includes(run.state) ? livePoller(`${CONSOLE_PATH}/approvals/${run.runId}`, '2s', '#approval') : '';
  return html`${message ?? ''}<section id="approval" aria-label="Held run">${live}
<dl>
<dt>Run</dt><dd><code>${run.runId}</code> — <a href="${CONSOLE_PATH}/runs/${run.runId}">its audit timeline</a></dd>
<dt>State</dt><dd><strong class="state">${run.state}</strong></dd>
<dt>Tool</dt><dd><code>${run.tool}</code></dd>
<dt>Rule</dt><dd><code>${run.rule}</code></dd>
<dt>Held by</dt><dd>${holdsOf(run)}</dd>
<dt>Runbook</dt><dd><code>${run.runbook.repository}/${run.runbook.path}</code> at commit <code>${run.runbook.commit}</code> (SHA-256 <code>${run.runbook.sha256}</code>)</dd>
<dt>Connection</dt><dd>${run.connection.name} <span class="muted">(${run.connection.type})</span></dd>
<dt>Requested by</dt><dd>${requesterOf(run)}</dd>
<dt>Approvals</dt><dd>${run.approval.approved} of ${run.approval.count}, from ${run.approval.groups.join(', ')}</dd>
<dt>Requested</dt><dd>${run.createdAt}</dd>
<dt>Expires</dt><dd>${run.expiresAt}</dd>
${outcomeOf(run)}
</dl>
<h2>What will run</h2>
<p class="muted">The body exactly as rendered and stored (SHA-256 <code>${run.bodySha256}</code>); the executor runs these bytes, nothing re-rendered.</p>
<pre>${run.body}</pre>
<h2>Parameters</h2>
${params.length > 0 ? html`<table><thead><tr><th scope="col">Name</th><th scope="col">Value</th></tr></thead><tbody>${params.map(([name, value]) => html`<tr><td><code>${name}</code></td><td><code>${value}</code></td></tr>`)}</tbody></table>` : html`<p class="muted">none</p>`}
<h2>Decisions</h2>
${run.decisions.length === 0 ? html`<p class="muted">None yet.</p>` : html`<ul>${run.decisions.map((d) => html`<li>${d.at}: <strong>${d.actor.user}</strong> ${d.verdict}${d.comment ? html` — ${d.comment}` : ''}</li>`)}</ul>`}
${decisionForms(run, viewer)}
</section>`;
}
