import { anyGlobMatches, type GuardrailConfig, type RuleConfig } from '@rungate/config';
import type { OutputGuardrail, RunbookLanguage } from '@rungate/contracts';
import { findingMessage, type GuardrailFinding } from './findings';
import { sqlMatcher, type SqlViolation } from './sql-match';
import type { SqlParse, SqlParser } from './sql-parser';
import { patternMatcher, wordsMatcher, type TextMatcher } from './text-match';
import { InternalError } from '@rungate/contracts';

/** Where a run goes: what decides which guardrails apply to it. */
export interface GuardrailSubject {
  connection: string;
  /** `<repository>/<path>` of the runbook. */
  runbook: string;
  /** The rule that allowed the run; guardrails a rule names apply only to runs it allowed. */
  rule?: string;
}

/** What policy checks before it signs: the body as it will run, and the validated parameters. */
export interface InputToCheck extends GuardrailSubject {
  body: string;
  language: RunbookLanguage;
  /** The SQL dialect the connection speaks; PostgreSQL when not given. */
  dialect?: 'postgres' | 'mysql';
  params: Readonly<Record<string, string>>;
}

/** A body to check, wherever it would run. */
export type BodyToCheck = Omit<InputToCheck, keyof GuardrailSubject>;

export interface ApplicableGuardrail {
  guardrail: GuardrailConfig;
  /** Why it applies, e.g. `connections prod-*`, `rule eng-postgres`. */
  attachedBy: string[];
}

// PostgreSQL's parser would read a MySQL body wrongly, not just fail on it: an executable
// comment (slash-star-bang … star-slash) is a comment to it and a statement to MySQL. A SQL
// guardrail on a MySQL run therefore refuses it.
const MYSQL_UNREADABLE: SqlViolation = {
  detail: "SQL guardrails read PostgreSQL's grammar, and MySQL reads comments (/*! … */, #) differently, so the statements of a MySQL body cannot be checked",
  unreadable: true,
};

type InputCheck = (input: BodyToCheck, sql: () => SqlParse) => SqlViolation | undefined;

interface CompiledGuardrail {
  config: GuardrailConfig;
  /** Rules that name this guardrail. */
  rules: ReadonlySet<string>;
  checkInput?: InputCheck;
}

function textCheck(matcher: TextMatcher): InputCheck {
  return (input) => {
    const inBody = matcher.find(input.body);
    if (inBody) return { detail: `${inBody} is in the body` };
    // A value can reach the body transformed (encodeb64), so it is checked as given, too.
    for (const [name, value] of Object.entries(input.params)) {
      const found = matcher.find(value);
      if (found) return { detail: `${found} is in parameter ${name}` };
    }
    return undefined;
  };
}

function compileInputCheck(config: GuardrailConfig, parser: SqlParser | undefined): InputCheck | undefined {
  if (config.on !== 'input') return undefined;
  const { match } = config;
  if (match.words) return textCheck(wordsMatcher(match.words));
  if (match.pattern !== undefined) return textCheck(patternMatcher(match.pattern));
  if (match.sql) {
    if (!parser) throw new InternalError(`guardrail ${config.name} checks SQL: load the parser first (loadSqlParser)`);
    const check = sqlMatcher(match.sql);
    // Only SQL bodies have statements; words and patterns cover scripts and manifests.
    return (input, sql) => {
      if (input.language !== 'sql') return undefined;
      return input.dialect === 'mysql' ? MYSQL_UNREADABLE : check(sql());
    };
  }
  return undefined;
}

/** The form output guardrails travel in inside a run ticket. */
function outputGuardrail(config: GuardrailConfig): OutputGuardrail {
  const { match } = config;
  const form = match.words
    ? { words: match.words }
    : match.pattern !== undefined
      ? { pattern: match.pattern }
      : { ...(match.maxRows !== undefined ? { maxRows: match.maxRows } : {}), ...(match.maxBytes !== undefined ? { maxBytes: match.maxBytes } : {}) };
  return { name: config.name, action: config.action === 'warn' ? 'warn' : 'deny', ...(config.message ? { message: config.message } : {}), match: form };
}

/**
 * The guardrails of one configuration, compiled once when it is loaded (patterns to RE2
 * programs, SQL rules to checks over the parser's tree). Pure: it decides, the services act.
 */
export class Guardrails {
  private constructor(
    private readonly compiled: readonly CompiledGuardrail[],
    private readonly parser: SqlParser | undefined,
  ) {}

  /** `sql` is the loaded parser (loadSqlParser); needed only when some guardrail checks SQL. */
  static compile(config: { guardrails: readonly GuardrailConfig[]; rules: readonly RuleConfig[] }, sql?: SqlParser): Guardrails {
    const compiled = config.guardrails.map((guardrail) => ({
      config: guardrail,
      rules: new Set(config.rules.filter((rule) => rule.guardrails?.includes(guardrail.name)).map((rule) => rule.name)),
      checkInput: compileInputCheck(guardrail, sql),
    }));
    return new Guardrails(compiled, sql);
  }

  get all(): readonly GuardrailConfig[] {
    return this.compiled.map((c) => c.config);
  }

  /** The guardrails a run is subject to, and why each one is. */
  applicable(subject: GuardrailSubject): ApplicableGuardrail[] {
    return this.applying(subject).map(({ config, attachedBy }) => ({ guardrail: config, attachedBy }));
  }

  /** Input guardrails on the rendered body and the parameters; the body is parsed once, and only if a SQL guardrail needs it. */
  checkInput(input: InputToCheck): GuardrailFinding[] {
    return this.check(
      this.applying(input).map((a) => a.compiled),
      input,
    );
  }

  /** The named input guardrails on a body, wherever they are attached (`rungate lint`, `policy explain`). */
  checkInputOf(names: readonly string[], input: BodyToCheck): GuardrailFinding[] {
    return this.check(
      this.compiled.filter((c) => names.includes(c.config.name)),
      input,
    );
  }

  private check(guardrails: readonly CompiledGuardrail[], input: BodyToCheck): GuardrailFinding[] {
    let parsed: SqlParse | undefined;
    const sql = (): SqlParse => (parsed ??= (this.parser as SqlParser).parse(input.body));
    const findings: GuardrailFinding[] = [];
    for (const { config, checkInput } of guardrails) {
      const violation = checkInput?.(input, sql);
      if (!violation) continue;
      // A body the parser cannot read is refused whatever the guardrail would do with a reading.
      const action = violation.unreadable ? 'deny' : config.action;
      findings.push({
        guardrail: config.name,
        on: 'input',
        action,
        message: findingMessage(config.message, violation.detail),
        ...(action === 'require_approval' && config.approval ? { approval: config.approval } : {}),
      });
    }
    return findings;
  }

  /** Output guardrails for a run, in the form its ticket carries them to the executor. */
  outputFor(subject: GuardrailSubject): OutputGuardrail[] {
    return this.applying(subject)
      .filter(({ config }) => config.on === 'output')
      .map(({ config }) => outputGuardrail(config));
  }

  private applying(subject: GuardrailSubject): { config: GuardrailConfig; attachedBy: string[]; compiled: CompiledGuardrail }[] {
    const applying = [];
    for (const compiled of this.compiled) {
      const attachedBy = attachments(compiled, subject);
      if (attachedBy.length > 0) applying.push({ config: compiled.config, attachedBy, compiled });
    }
    return applying;
  }
}

/**
 * A guardrail's own `connections` and `runbooks` select runs (both, when it gives both);
 * a rule naming it adds the runs that rule allows.
 */
function attachments({ config, rules }: CompiledGuardrail, subject: GuardrailSubject): string[] {
  const reasons: string[] = [];
  const selects = config.connections !== undefined || config.runbooks !== undefined;
  const connectionMatches = config.connections === undefined || anyGlobMatches(config.connections, subject.connection);
  const runbookMatches = config.runbooks === undefined || anyGlobMatches(config.runbooks, subject.runbook);
  if (selects && connectionMatches && runbookMatches) {
    if (config.connections) reasons.push(`connections ${config.connections.join(', ')}`);
    if (config.runbooks) reasons.push(`runbooks ${config.runbooks.join(', ')}`);
  }
  if (subject.rule !== undefined && rules.has(subject.rule)) reasons.push(`rule ${subject.rule}`);
  return reasons;
}
