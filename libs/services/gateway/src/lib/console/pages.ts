import type { AgentTokenView, AuditEvent, CatalogViewReply, SessionSummary, SessionTranscript, ToolDefinition } from '@rungate/contracts';
import { html, type Html } from './html';
import { HTMX_FILE } from './assets';

export const CONSOLE_PATH = '/console';

const NAV = [
  ['catalog', 'Catalog'],
  ['runs', 'Runs'],
  ['approvals', 'Approvals'],
  ['audit', 'Audit'],
  ['sessions', 'Exploration sessions'],
  ['tokens', 'Tokens'],
] as const;
export type NavKey = (typeof NAV)[number][0] | 'login';

/** Who is signed in, for the header's name and sign-out form. */
export interface Viewer {
  user: string;
  csrf: string;
}

/** htmx's own settings: nothing that needs inline styles, eval or scripts from swapped HTML (the CSP forbids them). */
const HTMX_CONFIG = JSON.stringify({ includeIndicatorStyles: false, allowEval: false, allowScriptTags: false, historyCacheSize: 0, selfRequestsOnly: true });

export function layout(title: string, active: NavKey, viewer: Viewer | undefined, body: Html, head?: Html): string {
  const nav = viewer
    ? html`<nav aria-label="Console"><ul>${NAV.map(
        ([key, label]) => html`<li><a href="${CONSOLE_PATH}/${key}"${key === active ? html` aria-current="page"` : ''}>${label}</a></li>`,
      )}</ul></nav>
      <div class="who"><span>Signed in as <strong>${viewer.user}</strong></span>
        <form method="post" action="${CONSOLE_PATH}/logout">${csrfField(viewer)}<button type="submit" class="link">Sign out</button></form></div>`
    : '';
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="htmx-config" content="${HTMX_CONFIG}">
<title>${title} · Rungate</title>
<link rel="stylesheet" href="${CONSOLE_PATH}/assets/console.css">
<script src="${CONSOLE_PATH}/assets/${HTMX_FILE}" defer></script>
${head ?? ''}</head>
<body hx-boost="true">
<header><span class="brand">Rungate</span>${nav}</header>
<main id="main">
<h1>${title}</h1>
${body}
</main>
</body>
</html>
`.text;
}

export function csrfField(viewer: Viewer): Html {
  return html`<input type="hidden" name="_csrf" value="${viewer.csrf}">`;
}

export function notice(text: string, bad = false): Html {
  return html`<p class="notice${bad ? ' bad' : ''}" role="${bad ? 'alert' : 'status'}">${text}</p>`;
}

export function loginPage(code: string | undefined, failure: string | undefined, issuer?: string): Html {
  if (code !== undefined) {
    return html`${failure ? notice(failure, true) : ''}
<p>This one-time link signs you in to this console. It works once and expires soon.</p>
<form method="post" action="${CONSOLE_PATH}/login" hx-boost="false">
<input type="hidden" name="code" value="${code}">
<button type="submit">Sign in</button>
</form>`;
  }
  return html`${failure ? notice(failure, true) : ''}
${issuer ? html`<p><a href="${CONSOLE_PATH}/oidc/start" hx-boost="false">Sign in with ${issuer}</a></p>` : ''}
<p>${issuer ? 'Or with' : 'Sign in with'} a one-time login link: <code>rungate serve</code> prints one when it starts, <code>rungate console link --user U</code> makes another.</p>`;
}

interface SchemaProperty {
  type?: unknown;
  description?: unknown;
  enum?: unknown;
  default?: unknown;
}

function parameters(tool: ToolDefinition): { name: string; type: string; required: boolean; description?: string }[] {
  const schema = tool.inputSchema as { properties?: Record<string, SchemaProperty>; required?: unknown };
  const required = Array.isArray(schema.required) ? schema.required : [];
  return Object.entries(schema.properties ?? {})
    .filter(([name]) => name !== 'connection')
    .map(([name, property]) => ({
      name,
      type: typeof property.type === 'string' ? property.type : 'value',
      required: required.includes(name),
      ...(typeof property.description === 'string' ? { description: property.description } : {}),
    }));
}

function connections(tool: ToolDefinition): string[] {
  const connection = (tool.inputSchema as { properties?: Record<string, SchemaProperty> }).properties?.['connection'];
  return Array.isArray(connection?.enum) ? connection.enum.filter((c): c is string => typeof c === 'string') : [];
}

function toolRows(tools: readonly ToolDefinition[], grants: ReadonlyMap<string, CatalogViewReply['runbooks'][number]>): Html {
  return html`<thead><tr><th scope="col">Tool</th><th scope="col">What it does</th><th scope="col">Parameters</th><th scope="col">Connections, and the rule granting each</th><th scope="col">Kind</th></tr></thead>
<tbody>${tools.map((tool) => {
    const view = grants.get(tool.name);
    return html`<tr>
<td><code>${tool.name}</code>${view ? html`<br><span class="muted">${view.path}</span>` : ''}${tool.title ? html`<br><span class="muted">${tool.title}</span>` : ''}</td>
<td>${tool.description}</td>
<td>${parameters(tool).length === 0
      ? html`<span class="muted">none</span>`
      : html`<ul>${parameters(tool).map((p) => html`<li><code>${p.name}</code> ${p.type}${p.required ? ' (required)' : ''}${p.description ? html` — ${p.description}` : ''}</li>`)}</ul>`}</td>
<td>${view
      ? html`<ul>${view.grants.map((g) => html`<li>${g.connection} — rule <code>${g.rule}</code>${g.approval ? ' (needs an approval)' : ''}</li>`)}</ul>`
      : connections(tool).join(', ')}</td>
<td>${tool.annotations.destructiveHint ? 'changes things' : tool.annotations.readOnlyHint ? 'read-only' : ''}</td>
</tr>`;
  })}</tbody>`;
}

/** The tools this user may run, as tools/list gives them to their agents, per repository with its commit and lint status. */
export function catalogPage(tools: readonly ToolDefinition[], view: CatalogViewReply): Html {
  if (tools.length === 0) return notice('No runbook is open to you: no rule allows you any.');
  const grants = new Map(view.runbooks.map((r) => [r.tool, r]));
  const builtin = tools.filter((tool) => !grants.has(tool.name));
  return html`<p>The runbooks you may run, on the connections you may run them on: what <code>tools/list</code> answers your agents. Every runbook listed passed lint at its commit; lint refuses a runbook from the catalog.</p>
${view.repositories.map((repo) => {
    const mine = tools.filter((tool) => grants.get(tool.name)?.repository === repo.repository);
    return html`<section aria-labelledby="repo-${repo.repository}">
<h2 id="repo-${repo.repository}">${repo.repository}</h2>
<p>Commit <code>${repo.commit}</code>, synced ${repo.syncedAt}${repo.stale ? html` — <span class="bad">stale: git-sync cannot reach it</span>` : ''}. Lint: ${repo.lintRefused === 0 ? html`<span class="ok">every runbook passed</span>` : html`<span class="bad">${repo.lintRefused} runbook${repo.lintRefused === 1 ? '' : 's'} refused</span> (rungate lint shows why)`}.</p>
<table>
<caption class="muted">${mine.length} runbook${mine.length === 1 ? '' : 's'} from ${repo.repository}</caption>
${toolRows(mine, grants)}
</table></section>`;
  })}
${builtin.length > 0 ? html`<section aria-labelledby="repo-builtin"><h2 id="repo-builtin">Built-in tools</h2><table><caption class="muted">${builtin.length} built-in tool${builtin.length === 1 ? '' : 's'}</caption>${toolRows(builtin, grants)}</table></section>` : ''}`;
}

export interface AuditRow {
  seq: number;
  valid: boolean;
  event: AuditEvent;
}

export const AUDIT_FILTERS = ['user', 'agent', 'runbook', 'type', 'outcome', 'since', 'until'] as const;
export type AuditFilters = Partial<Record<(typeof AUDIT_FILTERS)[number], string>>;

const FILTER_LABELS: Record<(typeof AUDIT_FILTERS)[number], string> = {
  user: 'User',
  agent: 'Agent',
  runbook: 'Tool or runbook',
  type: 'Event type (audit.run.*)',
  outcome: 'Outcome (succeeded, denied…)',
  since: 'Since (1h, 2025-06-01)',
  until: 'Until',
};

function filterForm(action: string, filters: AuditFilters, shown: readonly (typeof AUDIT_FILTERS)[number][]): Html {
  return html`<form class="filters" method="get" action="${action}" role="search" hx-target="#results" hx-select="#results" hx-swap="outerHTML" hx-push-url="true">
${shown.map((name) => html`<label>${FILTER_LABELS[name]}<input name="${name}" value="${filters[name] ?? ''}" autocomplete="off"></label>`)}
<button type="submit">Search</button>
</form>`;
}

function eventOutcome(event: AuditEvent): string {
  if (!event.outcome) return event.decision?.effect ?? '';
  return [event.outcome.status, event.outcome.errorCode].filter(Boolean).join(' · ');
}

function runLink(runId: string | undefined): Html | string {
  return runId ? html`<a href="${CONSOLE_PATH}/runs/${runId}"><code>${runId}</code></a>` : '';
}

function eventTable(rows: readonly AuditRow[], caption: string): Html {
  return html`<table>
<caption class="muted">${caption}</caption>
<thead><tr><th scope="col">#</th><th scope="col">Time</th><th scope="col">Event</th><th scope="col">Who</th><th scope="col">Tool</th><th scope="col">Connection</th><th scope="col">Outcome</th><th scope="col">Run</th><th scope="col">Chain</th></tr></thead>
<tbody>${rows.map(
    ({ seq, valid, event }) => html`<tr>
<td>${seq}</td><td>${event.time}</td><td><code>${event.type}</code></td>
<td>${event.actor?.user ?? ''}${event.actor?.agent ? html`<br><span class="muted">via ${event.actor.agent}</span>` : ''}</td>
<td>${event.tool ? html`<code>${event.tool}</code>` : ''}</td><td>${event.connection?.name ?? ''}</td>
<td>${eventOutcome(event)}${event.outcome?.error ? html`<br><span class="muted">${event.outcome.error}</span>` : ''}</td>
<td>${runLink(event.runId)}</td>
<td>${valid ? html`<span class="ok">verified</span>` : html`<span class="bad">broken</span>`}</td>
</tr>`,
  )}</tbody>
</table>`;
}

export interface ChainStatus {
  /** The distributed chain writer's own status; null under rungate serve (the chain is written in-process). */
  writer: unknown;
}

export function auditPage(filters: AuditFilters, result: { rows: readonly AuditRow[]; more: boolean } | { refused: string }, exportQuery: string): Html {
  const body =
    'refused' in result
      ? notice(result.refused, true)
      : html`${
          result.rows.some((row) => !row.valid)
            ? notice(`${result.rows.filter((row) => !row.valid).length} of these events do not verify against the chain: run rungate audit verify`, true)
            : notice(`Chain: every event shown verifies (its hash recomputed from the one before it).`)
        }
<p><a href="${CONSOLE_PATH}/audit/export${exportQuery}" hx-boost="false" download>Export these events (JSON lines)</a></p>
${eventTable(result.rows, `${result.rows.length} event${result.rows.length === 1 ? '' : 's'}, newest first${result.more ? '; narrow the search to see older ones' : ''}`)}`;
  return html`${filterForm(`${CONSOLE_PATH}/audit`, filters, AUDIT_FILTERS)}<section id="results" aria-label="Audit events">${body}</section>`;
}

/** One run, from its events: the latest status any of them gives. */
export interface RunSummary {
  runId: string;
  time: string;
  user: string;
  agent?: string;
  tool?: string;
  connection?: string;
  status: string;
}

export function summarizeRuns(rows: readonly AuditRow[]): RunSummary[] {
  const runs = new Map<string, RunSummary>();
  // Newest first: the first event seen of a run is its latest.
  for (const { event } of rows) {
    if (!event.runId) continue;
    const known = runs.get(event.runId);
    const status = event.outcome?.status ?? (event.type === 'audit.run.started' ? 'running' : event.decision?.effect === 'allow' ? 'allowed' : (event.decision?.effect ?? ''));
    if (!known) {
      runs.set(event.runId, {
        runId: event.runId,
        time: event.time,
        user: event.actor?.user ?? '',
        ...(event.actor?.agent ? { agent: event.actor.agent } : {}),
        ...(event.tool ? { tool: event.tool } : {}),
        ...(event.connection ? { connection: event.connection.name } : {}),
        status,
      });
    } else {
      known.tool ??= event.tool;
      known.connection ??= event.connection?.name;
      known.agent ??= event.actor?.agent;
      known.time = event.time;
    }
  }
  return [...runs.values()];
}

export function runsPage(filters: AuditFilters, result: { runs: readonly RunSummary[] } | { refused: string }): Html {
  const body =
    'refused' in result
      ? notice(result.refused, true)
      : result.runs.length === 0
        ? notice('No run matches.')
        : html`<table>
<caption class="muted">${result.runs.length} run${result.runs.length === 1 ? '' : 's'}, newest first</caption>
<thead><tr><th scope="col">Run</th><th scope="col">Started</th><th scope="col">Who</th><th scope="col">Tool</th><th scope="col">Connection</th><th scope="col">Status</th></tr></thead>
<tbody>${result.runs.map(
            (run) => html`<tr><td>${runLink(run.runId)}</td><td>${run.time}</td><td>${run.user}${run.agent ? html`<br><span class="muted">via ${run.agent}</span>` : ''}</td>
<td>${run.tool ? html`<code>${run.tool}</code>` : ''}</td><td>${run.connection ?? ''}</td><td>${run.status}</td></tr>`,
          )}</tbody>
</table>`;
  const query = new URLSearchParams(filters as Record<string, string>).toString();
  return html`${filterForm(`${CONSOLE_PATH}/runs`, filters, ['user', 'agent', 'runbook', 'outcome', 'since'])}${livePoller(`${CONSOLE_PATH}/runs${query ? `?${query}` : ''}`, '5s')}<section id="results" aria-label="Runs">${body}</section>`;
}

/**
 * Live: htmx asks for `path` again every `every` and swaps its `target` in (the page works
 * without it, by reloading). The poller is never the target's parent: its hx-select would be
 * inherited by the links inside. Inside the target, it lasts as long as the answer has one.
 */
export function livePoller(path: string, every: '2s' | '5s', target = '#results'): Html {
  return html`<div hidden hx-get="${path}" hx-trigger="every ${every}" hx-target="${target}" hx-select="${target}" hx-swap="outerHTML"></div>`;
}

export function runPage(runId: string, rows: readonly AuditRow[]): Html {
  const first = rows.find((row) => row.event.actor)?.event;
  const runbook = rows.find((row) => row.event.runbook)?.event.runbook;
  const params = rows.find((row) => row.event.params)?.event.params;
  const ended = [...rows].reverse().find((row) => row.event.outcome)?.event.outcome;
  const held = rows.some((row) => row.event.decision?.effect === 'approval_required');
  return html`<dl>
<dt>Run</dt><dd><code>${runId}</code>${held ? html` — held for approval: <a href="${CONSOLE_PATH}/approvals/${runId}">its approval</a>` : ''}</dd>
<dt>Who</dt><dd>${first?.actor?.user ?? 'unknown'}</dd>
<dt>Agent</dt><dd>${first?.actor?.agent ?? 'none'}</dd>
<dt>Tool</dt><dd>${first?.tool ? html`<code>${first.tool}</code>` : 'unknown'}</dd>
<dt>Runbook</dt><dd>${runbook ? html`<code>${runbook.repository}/${runbook.path}</code> at commit <code>${runbook.commit}</code>` : 'unknown'}</dd>
<dt>Outcome</dt><dd>${ended ? [ended.status, ended.errorCode, ended.rows !== undefined ? `${ended.rows} rows` : undefined, ended.durationMs !== undefined ? `${Math.round(ended.durationMs)} ms` : undefined].filter(Boolean).join(' · ') : 'not ended'}</dd>
${ended?.masking ? html`<dt>Masking</dt><dd>profile ${ended.masking.profile}: ${Object.entries(ended.masking.counts).map(([kind, n]) => `${n} ${kind}`).join(', ') || 'nothing masked'}</dd>` : ''}
${ended?.outputSha256 ? html`<dt>Output</dt><dd>SHA-256 <code>${ended.outputSha256}</code>; the output itself went, masked, to the caller only: the trail keeps its digest, never its rows</dd>` : ''}
</dl>
<h2>Parameters</h2>
${params && Object.keys(params).length > 0 ? html`<table><thead><tr><th scope="col">Name</th><th scope="col">Value</th></tr></thead><tbody>${Object.entries(params).map(([name, value]) => html`<tr><td><code>${name}</code></td><td><code>${value}</code></td></tr>`)}</tbody></table>` : html`<p class="muted">none</p>`}
<h2>Timeline</h2>
${eventTable(rows, `${rows.length} audit event${rows.length === 1 ? '' : 's'} of this run, oldest first`)}`;
}

export function sessionsPage(result: { sessions: readonly SessionSummary[] } | { refused: string }): Html {
  if ('refused' in result) return notice(result.refused, true);
  if (result.sessions.length === 0) return notice('No exploration session in the last 7 days.');
  return html`<table>
<caption class="muted">Exploration sessions of the last 7 days, most recently active first</caption>
<thead><tr><th scope="col">Session</th><th scope="col">Who</th><th scope="col">Last active</th><th scope="col">Calls</th><th scope="col">Refused</th><th scope="col">Connections</th><th scope="col">Reviews</th></tr></thead>
<tbody>${result.sessions.map(
    (s) => html`<tr><td><a href="${CONSOLE_PATH}/sessions/${s.id}"><code>${s.id}</code></a></td><td>${s.user}${s.agent ? html`<br><span class="muted">via ${s.agent}</span>` : ''}</td>
<td>${s.lastSeen}</td><td>${s.calls}</td><td>${s.refused}</td><td>${s.connections.join(', ')}</td><td>${s.reviews === 0 ? html`<span class="bad">unreviewed</span>` : s.reviews}</td></tr>`,
  )}</tbody>
</table>`;
}

export function sessionPage(transcript: SessionTranscript, viewer: Viewer, message: Html | undefined): Html {
  const { session } = transcript;
  return html`${message ?? ''}<p>${session.user}${session.agent ? ` via ${session.agent}` : ''}, ${session.firstSeen} to ${session.lastSeen}: ${session.calls} calls, ${session.refused} refused.</p>
<h2>Transcript</h2>
<table>
<thead><tr><th scope="col">Time</th><th scope="col">Tool</th><th scope="col">Connection</th><th scope="col">Asked</th><th scope="col">Decision</th><th scope="col">Result</th></tr></thead>
<tbody>${transcript.entries.map(
    (e) => html`<tr><td>${e.time}</td><td><code>${e.tool}</code></td><td>${e.connection ?? ''}</td>
<td>${Object.entries(e.request).map(([key, value]) => html`<pre>${key}: ${value}</pre>`)}</td>
<td>${e.decision}${e.reason ? html`<br><span class="muted">${e.reason}</span>` : ''}</td>
<td>${[e.status, e.errorCode, e.rows !== undefined ? `${e.rows} rows` : undefined, e.truncated ? 'truncated' : undefined].filter(Boolean).join(' · ')}${e.error ? html`<br><span class="muted">${e.error}</span>` : ''}</td></tr>`,
  )}</tbody>
</table>
<h2>Reviews</h2>
${transcript.reviews.length === 0 ? html`<p class="muted">Not reviewed yet.</p>` : html`<ul>${transcript.reviews.map((r) => html`<li>${r.time}: <strong>${r.reviewer}</strong> — ${r.comment}</li>`)}</ul>`}
<form class="stack" method="post" action="${CONSOLE_PATH}/sessions/${session.id}/review">
${csrfField(viewer)}
<label for="comment">Comment</label>
<textarea id="comment" name="comment" rows="3" required maxlength="4000"></textarea>
<button type="submit">Mark reviewed</button>
</form>`;
}

/** After the issuer's redirect (cross-site), a page of ours moves on: a SameSite=Strict cookie is sent on that navigation, not on a redirect. */
export function signedInHead(): Html {
  return html`<meta http-equiv="refresh" content="0;url=${CONSOLE_PATH}/catalog">`;
}

export function signedInPage(): Html {
  return html`<p>Signed in. <a href="${CONSOLE_PATH}/catalog">Continue to the console</a>.</p>`;
}

/** Lifetimes offered for a new token (the request allows up to 30 days). */
export const TOKEN_TTLS = [
  ['1h', 3_600_000],
  ['8h', 8 * 3_600_000],
  ['24h', 24 * 3_600_000],
  ['7d', 7 * 86_400_000],
  ['30d', 30 * 86_400_000],
] as const;

function tokenState(token: AgentTokenView, now: number): string {
  return token.revokedAt ? 'revoked' : Date.parse(token.expiresAt) <= now ? 'expired' : 'active';
}

export function tokensPage(viewer: Viewer, result: { tokens: readonly AgentTokenView[]; created?: { id: string; token: string } } | { refused: string }, message?: Html, now = Date.now()): Html {
  if ('refused' in result) return html`${message ?? ''}${notice(result.refused, true)}`;
  const created = result.created
    ? html`<div class="notice" role="status"><p>Made <code>${result.created.id}</code>. Its token is shown only now; give it to your agent as <code>Authorization: Bearer …</code>:</p>
<p><label for="new-token">New token</label><br><input id="new-token" class="token" readonly size="60" value="${result.created.token}"></p></div>`
    : '';
  return html`${message ?? ''}${created}
<p>Agent tokens act for you, never beyond your own rules; narrow them to runbooks and connections as the agent needs.</p>
<table>
<caption class="muted">Your agent tokens</caption>
<thead><tr><th scope="col">Token</th><th scope="col">Agent</th><th scope="col">State</th><th scope="col">Expires</th><th scope="col">Narrowed to</th><th scope="col">Scopes</th><th scope="col"><span class="muted">Action</span></th></tr></thead>
<tbody>${result.tokens.map((token) => {
    const state = tokenState(token, now);
    return html`<tr><td><code>${token.id}</code></td><td>${token.agent}</td><td>${state}</td><td>${token.expiresAt}</td>
<td>${[token.runbooks ? `runbooks ${token.runbooks.join(', ')}` : '', token.connections ? `connections ${token.connections.join(', ')}` : ''].filter(Boolean).join('; ') || html`<span class="muted">nothing</span>`}</td>
<td>${token.scopes.join(', ')}</td>
<td>${state === 'active' ? html`<form method="post" action="${CONSOLE_PATH}/tokens/${token.id}/revoke">${csrfField(viewer)}<button type="submit" aria-label="Revoke ${token.id}">Revoke</button></form>` : ''}</td></tr>`;
  })}</tbody>
</table>
<h2>Make a token</h2>
<form class="stack" method="post" action="${CONSOLE_PATH}/tokens">
${csrfField(viewer)}
<label>Agent name<input name="agent" required maxlength="100" pattern="[A-Za-z0-9][A-Za-z0-9._@\-]*" autocomplete="off"></label>
<label>Lifetime<select name="ttl">${TOKEN_TTLS.map(([label]) => html`<option value="${label}"${label === '8h' ? html` selected` : ''}>${label}</option>`)}</select></label>
<label>Runbooks (globs, comma-separated; empty: all yours)<input name="runbooks" autocomplete="off" placeholder="demo/shell/**"></label>
<label>Connections (comma-separated; empty: all yours)<input name="connections" autocomplete="off"></label>
<fieldset><legend>Scopes</legend><label><input type="checkbox" name="scope" value="audit:read"> audit:read (query the audit trail; you must be an auditor)</label></fieldset>
<button type="submit">Make token</button>
</form>`;
}
