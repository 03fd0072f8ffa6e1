import type { Identity } from '@rungate/contracts';
import type { RuleConfig } from '@rungate/config';
import { RE2JS } from 're2js';
import { anyGlobMatches } from './glob';

export interface DecisionSubject {
  identity: Identity;
  /** "<repository>/<path>" of the runbook. */
  runbook: string;
  connection: string;
  /** Validated parameter values; absent when listing (any value might be allowed). */
  params?: Record<string, string>;
}

export type Decision =
  | { effect: 'allow'; rule: string; approval?: RuleConfig['approval'] }
  | { effect: 'deny'; family: DenyFamily; reason: string };

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

/**
 * THE decision function: `tools/list` and `tools/call` both come here, so an agent never
 * sees a tool it cannot call nor calls one it cannot see. Default deny, also with no rules.
 */
export function decide(subject: DecisionSubject, rules: readonly RuleConfig[]): Decision {
  const { identity, runbook, connection } = subject;
  const scope = identity.scope;
  if (scope.runbooks && !anyGlobMatches(scope.runbooks, runbook)) {
    return { effect: 'deny', family: 'token-scope', reason: `this token is not scoped to runbook ${runbook}` };
  }
  if (scope.connections && !anyGlobMatches(scope.connections, connection)) {
    return { effect: 'deny', family: 'token-scope', reason: `this token is not scoped to connection ${connection}` };
  }
  const groups = new Set(identity.groups);
  let paramsBlocked = false;
  for (const rule of rules) {
    if (!rule.groups.some((g) => groups.has(g))) continue;
    if (!anyGlobMatches(rule.connections, connection)) continue;
    if (!anyGlobMatches(rule.runbooks, runbook)) continue;
    if (!paramsAllowed(rule, subject.params)) {
      paramsBlocked = true;
      continue;
    }
    return { effect: 'allow', rule: rule.name, ...(rule.approval ? { approval: rule.approval } : {}) };
  }
  if (paramsBlocked) {
    return { effect: 'deny', family: 'params', reason: `the parameter values are outside what your rules allow for ${runbook} on ${connection}` };
  }
  return { effect: 'deny', family: 'no-rule', reason: `no rule allows ${identity.user} to run ${runbook} on ${connection}` };
}
