import { anyGlobMatches, type ConnectionConfig, type GuardrailConfig, type RuleConfig } from '@rungate/config';
import type { ParameterSpec, RunbookFinding } from '@rungate/contracts';
import { POSTGRES, RenderError, renderRunbook, type ParsedRunbook, type SqlDialect } from '@rungate/runbooks';
import { Guardrails, type BodyToCheck } from './guardrails';
import { loadSqlParser } from './sql-parser';

export interface LintConfig {
  connections: readonly ConnectionConfig[];
  rules: readonly RuleConfig[];
  guardrails: readonly GuardrailConfig[];
}

export interface LintedGuardrail {
  name: string;
  on: 'input' | 'output';
  action: GuardrailConfig['action'];
  /** When it applies to the runbook: `always`, `on app-db, replica`, `when rule eng allows it`. */
  when: string;
}

export interface GuardrailLint {
  /** Per runbook path: the guardrails that can apply to it. */
  guardrails: Map<string, LintedGuardrail[]>;
  /** Runbooks an input guardrail denies (or holds for approval) whatever the parameters. */
  warnings: RunbookFinding[];
}

/**
 * When a guardrail applies to a runbook, if ever. Its connections count only if some configured
 * connection they name can run the runbook at all (its connection types).
 */
function whenApplies(guardrail: GuardrailConfig, runbook: ParsedRunbook, key: string, config: LintConfig): string | undefined {
  if (guardrail.on === 'input' && guardrail.match.sql && runbook.language !== 'sql') return undefined;
  const conditions: string[] = [];
  if ((guardrail.connections || guardrail.runbooks) && (!guardrail.runbooks || anyGlobMatches(guardrail.runbooks, key))) {
    if (!guardrail.connections) conditions.push('always');
    else {
      const names = config.connections
        .filter((c) => anyGlobMatches(guardrail.connections as string[], c.name) && runbook.metadata.connectionTypes.includes(c.type))
        .map((c) => c.name);
      if (names.length > 0) conditions.push(`on ${names.join(', ')}`);
    }
  }
  for (const rule of config.rules) {
    if (rule.guardrails?.includes(guardrail.name) && anyGlobMatches(rule.runbooks, key)) conditions.push(`when rule ${rule.name} allows it`);
  }
  return conditions.length > 0 ? conditions.join(' or ') : undefined;
}

/**
 * Two sets of bland values, different from each other: a finding under both comes from the
 * runbook's own text, not from a value. Contextual escaping keeps every value a literal, so a
 * SQL guardrail's finding holds for any value; the text samples are valid base64, so runbooks
 * that decode a parameter render too.
 */
function sampleValues(parameters: readonly ParameterSpec[], variant: 0 | 1): Record<string, string> {
  const samples: Record<string, readonly [string, string]> = {
    number: ['1', '2'],
    boolean: ['true', 'false'],
    identifier: ['sample_a', 'sample_b'],
    email: ['a@example.com', 'b@example.com'],
    url: ['https://example.com/a', 'https://example.com/b'],
    date: ['2000-01-01', '2000-01-02'],
    time: ['00:00', '00:01'],
  };
  return Object.fromEntries(
    parameters.map((p) => {
      const options = p.options ?? [];
      const option = variant === 0 ? options[0] : options[options.length - 1];
      return [p.name, option ?? samples[p.type]?.[variant] ?? ['c2FtcGxl', 'dGV4dA=='][variant]];
    }),
  );
}

/** MySQL's default quoting (backslash escapes, "…" a string), for runbooks that run on MySQL only. */
const MYSQL_DEFAULT: SqlDialect = { kind: 'mysql', quoting: { noBackslashEscapes: false, ansiQuotes: false } };

/** The dialect lint renders a SQL runbook in: PostgreSQL's where it runs there, else MySQL's. */
function lintDialect(runbook: ParsedRunbook): SqlDialect | undefined {
  if (runbook.language !== 'sql') return undefined;
  return runbook.metadata.connectionTypes.includes('postgres') ? POSTGRES : MYSQL_DEFAULT;
}

function render(runbook: ParsedRunbook, variant: 0 | 1): BodyToCheck | undefined {
  const params = sampleValues(runbook.parameters, variant);
  const dialect = lintDialect(runbook);
  try {
    return { body: renderRunbook(runbook, params, dialect), language: runbook.language, dialect: dialect?.kind, params };
  } catch (error) {
    if (error instanceof RenderError) return undefined;
    throw error;
  }
}

/** The MySQL connections on which a SQL guardrail applies to a runbook: it refuses every run there. */
function mysqlReach(guardrail: GuardrailConfig, runbook: ParsedRunbook, key: string, config: LintConfig): string[] {
  if (!guardrail.match.sql || runbook.language !== 'sql' || !runbook.metadata.connectionTypes.includes('mysql')) return [];
  const selects = (guardrail.connections || guardrail.runbooks) && (!guardrail.runbooks || anyGlobMatches(guardrail.runbooks, key));
  return config.connections
    .filter((c) => c.type === 'mysql')
    .filter(
      (c) =>
        (selects && (!guardrail.connections || anyGlobMatches(guardrail.connections, c.name))) ||
        config.rules.some((rule) => rule.guardrails?.includes(guardrail.name) && anyGlobMatches(rule.runbooks, key) && anyGlobMatches(rule.connections, c.name)),
    )
    .map((c) => c.name);
}

/** What guardrails mean for each runbook of a repository: which apply, and which it can never pass. */
export function lintGuardrails(config: LintConfig, guardrails: Guardrails, repository: string, runbooks: readonly ParsedRunbook[]): GuardrailLint {
  const report: GuardrailLint = { guardrails: new Map(), warnings: [] };
  for (const runbook of runbooks) {
    const key = `${repository}/${runbook.path}`;
    const applying: LintedGuardrail[] = [];
    for (const guardrail of config.guardrails) {
      const when = whenApplies(guardrail, runbook, key, config);
      if (when) applying.push({ name: guardrail.name, on: guardrail.on, action: guardrail.action, when });
    }
    report.guardrails.set(runbook.path, applying);
    const warn = (message: string) => report.warnings.push({ path: runbook.path, line: 1, column: 1, message: `warning: ${message}` });
    const blocking = applying.filter((g) => g.on === 'input' && g.action !== 'warn');
    const samples = blocking.length > 0 ? [render(runbook, 0), render(runbook, 1)] : [];
    for (const guardrail of blocking) {
      const definition = config.guardrails.find((g) => g.name === guardrail.name) as GuardrailConfig;
      const mysql = mysqlReach(definition, runbook, key, config);
      if (mysql.length > 0) warn(`can never pass guardrail ${guardrail.name} on MySQL connection(s) ${mysql.join(', ')}: SQL guardrails read PostgreSQL's grammar only`);
      // Rendered as for PostgreSQL when the runbook runs there; a SQL guardrail has said all it can about MySQL above.
      if (definition.match.sql && lintDialect(runbook)?.kind !== 'postgres') continue;
      const [first, second] = samples.map((input) => (input ? guardrails.checkInputOf([guardrail.name], input)[0] : undefined));
      if (!first || !second) continue;
      const what = first.action === 'deny' ? 'can never pass' : 'always needs an approval under';
      warn(`${what} guardrail ${guardrail.name} (${guardrail.when}): ${first.message}`);
    }
  }
  return report;
}

/** `rungate lint --config`: the guardrails of the configuration, compiled with the SQL parser, over the linted runbooks. */
export async function lintRepositoryGuardrails(config: LintConfig, repository: string, runbooks: readonly ParsedRunbook[]): Promise<GuardrailLint> {
  return lintGuardrails(config, Guardrails.compile(config, await loadSqlParser()), repository, runbooks);
}

export function formatLintedGuardrails(guardrails: readonly LintedGuardrail[]): string {
  return guardrails.map((g) => `${g.name} (${g.on}, ${g.action}; ${g.when})`).join(', ');
}
