import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadConfig } from '@rungate/config';
import type { Identity } from '@rungate/contracts';
import { explainCallGuardrails } from '@rungate/guardrails';
import { explain } from '@rungate/policy';

export interface ExplainOptions {
  user: string;
  agent?: string;
  group: string[];
  runbook: string;
  connection: string;
  param: string[];
  file?: string;
  config: string;
}

const MISS_TEXT = {
  groups: 'none of its groups is one of the user’s',
  connection: 'its connections do not include this one',
  runbook: 'its runbook globs do not match',
  params: 'its parameter conditions are not met',
} as const;

/**
 * `rungate policy explain`: the decision and the rule that made it, why every other rule did
 * not, and the guardrails that apply (what they say of a runbook file, with `--file`). Exit 0
 * allow, 1 deny.
 */
export async function explainPolicy(options: ExplainOptions): Promise<number> {
  const config = loadConfig(resolve(options.config));
  const { user, agent } = options;
  const configured = config.users.find((u) => u.name === user);
  if (!configured && options.group.length === 0) {
    process.stdout.write(`deny: unknown user ${user} (not in users:; pass --group for an OIDC user)\n`);
    return 1;
  }
  const token = agent ? config.tokens.find((t) => t.user === user && t.agent === agent) : undefined;
  if (token?.expiresAt && Date.parse(token.expiresAt) <= Date.now()) {
    process.stdout.write(`deny: the static token of ${user} via agent ${agent} expired at ${token.expiresAt}\n`);
    return 1;
  }
  const identity: Identity = {
    user,
    groups: [...(configured?.groups ?? []), ...options.group],
    ...(agent ? { agent } : {}),
    scope: { ...(token?.runbooks ? { runbooks: token.runbooks } : {}), ...(token?.connections ? { connections: token.connections } : {}) },
  };
  const params = Object.fromEntries(
    options.param.map((pair) => {
      const at = pair.indexOf('=');
      return at < 0 ? [pair, ''] : [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
  const result = explain(
    { identity, runbook: options.runbook, connection: options.connection, ...(options.param.length > 0 ? { params } : {}) },
    config.rules,
  );
  const lines: string[] = [];
  if (result.decision.effect === 'allow') {
    lines.push(`allow: rule ${result.decision.rule}${result.decision.approval ? ' (approval required)' : ''}`);
  } else {
    lines.push(`deny: ${result.decision.reason}`);
  }
  lines.push(`  as ${user}${agent ? ` via agent ${agent}` : ''}, groups [${identity.groups.join(', ')}]`);
  if (result.scope) lines.push(`  token scope: ${result.scope}`);
  if (config.rules.length === 0) lines.push('  no rules are configured: everything is denied');
  for (const rule of result.rules) {
    lines.push(`  rule ${rule.name}: ${rule.matches ? 'matches' : `does not match — ${MISS_TEXT[rule.miss ?? 'groups']}`}`);
  }
  const rule = result.decision.effect === 'allow' ? result.decision.rule : undefined;
  const guardrails = await explainCallGuardrails(
    config,
    { connection: options.connection, runbook: options.runbook, rule },
    options.file ? { source: readFileSync(options.file, 'utf8'), params } : undefined,
  );
  lines.push(...guardrails.lines);
  process.stdout.write(`${lines.join('\n')}\n`);
  return result.decision.effect === 'allow' && !guardrails.denied ? 0 : 1;
}
