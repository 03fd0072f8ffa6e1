import { readFileSync } from 'node:fs';
import { ConfigError, configPath, loadConfig } from '@rungate/config';
import type { Identity } from '@rungate/contracts';
import { explainCallGuardrails } from '@rungate/guardrails';
import { explain } from '@rungate/policy';
import { option } from './args';

function options(args: readonly string[], name: string): string[] {
  const values: string[] = [];
  args.forEach((arg, i) => {
    if (arg === name && args[i + 1] !== undefined) values.push(args[i + 1] as string);
    else if (arg.startsWith(`${name}=`)) values.push(arg.slice(name.length + 1));
  });
  return values;
}

const USAGE =
  'usage: rungate policy explain --user U [--agent A] [--group G]… --runbook <repository>/<path> --connection C [--param k=v]… [--file RUNBOOK_FILE] [--config FILE]\n';

const MISS_TEXT = {
  groups: 'none of its groups is one of the user’s',
  connection: 'its connections do not include this one',
  runbook: 'its runbook globs do not match',
  params: 'its parameter conditions are not met',
} as const;

/** Prints the decision and the rule that made it, why every other rule did not, and the guardrails that apply. */
export async function policyCommand(args: string[]): Promise<number> {
  const user = option(args, '--user');
  const runbook = option(args, '--runbook');
  const connection = option(args, '--connection');
  if (args[0] !== 'explain' || !user || !runbook || !connection) {
    process.stderr.write(USAGE);
    return 2;
  }
  let config;
  try {
    config = loadConfig(configPath(args));
  } catch (error) {
    process.stderr.write(`${error instanceof ConfigError ? error.message : String(error)}\n`);
    return 2;
  }
  const agent = option(args, '--agent');
  const configured = config.users.find((u) => u.name === user);
  const extraGroups = options(args, '--group');
  if (!configured && extraGroups.length === 0) {
    process.stdout.write(`deny: unknown user ${user} (not in users:; pass --group for an OIDC user)\n`);
    return 1;
  }
  const token = agent ? config.tokens.find((t) => t.user === user && t.agent === agent) : undefined;
  const identity: Identity = {
    user,
    groups: [...(configured?.groups ?? []), ...extraGroups],
    ...(agent ? { agent } : {}),
    scope: { ...(token?.runbooks ? { runbooks: token.runbooks } : {}), ...(token?.connections ? { connections: token.connections } : {}) },
  };
  const params = Object.fromEntries(
    options(args, '--param').map((pair) => {
      const at = pair.indexOf('=');
      return at < 0 ? [pair, ''] : [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
  const hasParams = options(args, '--param').length > 0;
  const result = explain({ identity, runbook, connection, ...(hasParams ? { params } : {}) }, config.rules);
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
  const file = option(args, '--file');
  const rule = result.decision.effect === 'allow' ? result.decision.rule : undefined;
  const guardrails = await explainCallGuardrails(config, { connection, runbook, rule }, file ? { source: readFileSync(file, 'utf8'), params } : undefined);
  lines.push(...guardrails.lines);
  process.stdout.write(`${lines.join('\n')}\n`);
  return result.decision.effect === 'allow' && !guardrails.denied ? 0 : 1;
}
