import { anyGlobMatches, type ApprovalConfig, type ExploreGrant, type RuleConfig } from '@rungate/config';
import type { Identity } from '@rungate/contracts';
import { RE2JS } from 're2js';

export interface DecisionSubject {
  identity: Identity;
  /** "<repository>/<path>" of the runbook. */
  runbook: string;
  connection: string;
  /** Validated parameter values; absent when listing (any value might be allowed). */
  params?: Record<string, string>;
}

export type Decision =
  | { effect: 'allow'; rule: string }
  /** The rule allows the call once its approvers said yes (ADR 18): listed like an allowed tool. */
  | { effect: 'approval_required'; rule: string; approval: ApprovalConfig }
  | { effect: 'deny'; family: DenyFamily; reason: string };

/** Whether the caller may see and call the tool: allowed now, or once approved. */
export function permits(decision: Decision): decision is Extract<Decision, { effect: 'allow' | 'approval_required' }> {
  return decision.effect !== 'deny';
}

/** Why a call was denied, in words safe to show the caller (other users' rules stay hidden). */
export type DenyFamily = 'token-scope' | 'no-rule' | 'params';

const patternCache = new Map<string, RE2JS>();

function matchesPattern(pattern: string, value: string): boolean {
  let re = patternCache.get(pattern);
  if (!re) {
    re = RE2JS.compile(pattern);
    patternCache.set(pattern, re);
  }
  return re.matches(value);
}

function paramsAllowed(rule: RuleConfig, params: Record<string, string> | undefined): boolean {
  if (!rule.params || params === undefined) return true;
  return Object.entries(rule.params).every(([name, condition]) => {
    const value = params[name];
    if (value === undefined) return false;
    return Array.isArray(condition) ? condition.includes(value) : matchesPattern(condition.pattern, value);
  });
}

export type RuleMiss = 'groups' | 'connection' | 'runbook' | 'params';

/** Whether one rule matches, and if not, the first part that did not. */
export function evaluateRule(rule: RuleConfig, subject: DecisionSubject): { matches: true } | { matches: false; miss: RuleMiss } {
  if (!rule.groups.some((g) => subject.identity.groups.includes(g))) return { matches: false, miss: 'groups' };
  if (!anyGlobMatches(rule.connections, subject.connection)) return { matches: false, miss: 'connection' };
  if (!anyGlobMatches(rule.runbooks, subject.runbook)) return { matches: false, miss: 'runbook' };
  if (!paramsAllowed(rule, subject.params)) return { matches: false, miss: 'params' };
  return { matches: true };
}

function scopeDenial(subject: DecisionSubject): string | undefined {
  const scope = subject.identity.scope;
  if (scope.runbooks && !anyGlobMatches(scope.runbooks, subject.runbook)) return `this token is not scoped to runbook ${subject.runbook}`;
  if (scope.connections && !anyGlobMatches(scope.connections, subject.connection)) {
    return `this token is not scoped to connection ${subject.connection}`;
  }
  return undefined;
}

/**
 * THE decision function: `tools/list` and `tools/call` both come here, so an agent never
 * sees a tool it cannot call nor calls one it cannot see. Default deny, also with no rules.
 */
export function decide(subject: DecisionSubject, rules: readonly RuleConfig[]): Decision {
  const { identity, runbook, connection } = subject;
  const outOfScope = scopeDenial(subject);
  if (outOfScope) return { effect: 'deny', family: 'token-scope', reason: outOfScope };
  let paramsBlocked = false;
  for (const rule of rules) {
    const verdict = evaluateRule(rule, subject);
    if (verdict.matches) return rule.approval ? { effect: 'approval_required', rule: rule.name, approval: rule.approval } : { effect: 'allow', rule: rule.name };
    if (verdict.miss === 'params') paramsBlocked = true;
  }
  if (paramsBlocked) {
    return { effect: 'deny', family: 'params', reason: `the parameter values are outside what your rules allow for ${runbook} on ${connection}` };
  }
  return { effect: 'deny', family: 'no-rule', reason: `no rule allows ${identity.user} to run ${runbook} on ${connection}` };
}

/**
 * What a token's `runbooks` scope globs are matched against for a built-in tool. `@` is never
 * part of a repository name, so no runbook has this key: `**` takes built-in tools in, a
 * scope such as `demo/**` leaves them out.
 */
export function builtinKey(tool: string): string {
  return `@builtin/${tool}`;
}

export type ExploreDecision = { effect: 'allow'; rule: string; grant: ExploreGrant } | { effect: 'deny'; family: DenyFamily; reason: string };

/**
 * The decision for a built-in exploration tool on one connection (ADR 19), for listing and
 * calling alike: the token's scope, then the first rule whose groups the caller has and whose
 * `explore:` grant names the connection. No grant, no exploration — also with no rules.
 */
export function decideExploration(subject: { identity: Identity; tool: string; connection: string }, rules: readonly RuleConfig[]): ExploreDecision {
  const { identity, tool, connection } = subject;
  const outOfScope = scopeDenial({ identity, runbook: builtinKey(tool), connection });
  if (outOfScope) return { effect: 'deny', family: 'token-scope', reason: outOfScope };
  for (const rule of rules) {
    if (!rule.explore || !rule.groups.some((g) => identity.groups.includes(g))) continue;
    if (rule.explore.connections.includes(connection)) return { effect: 'allow', rule: rule.name, grant: rule.explore };
  }
  return { effect: 'deny', family: 'no-rule', reason: `no rule lets ${identity.user} explore ${connection}` };
}

export interface Explanation {
  decision: Decision;
  scope?: string;
  rules: { name: string; matches: boolean; miss?: RuleMiss }[];
}

/** For operators (`rungate policy explain`): the decision and why each rule did or did not match. */
export function explain(subject: DecisionSubject, rules: readonly RuleConfig[]): Explanation {
  return {
    decision: decide(subject, rules),
    scope: scopeDenial(subject),
    rules: rules.map((rule) => {
      const verdict = evaluateRule(rule, subject);
      return verdict.matches ? { name: rule.name, matches: true } : { name: rule.name, matches: false, miss: verdict.miss };
    }),
  };
}
