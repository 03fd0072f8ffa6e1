import { RungateError, type JsonValue, type OutputGuardrail, type RunOutput } from '@rungate/contracts';
import { findingMessage, type GuardrailFinding } from './findings';
import { patternMatcher, wordsMatcher, type TextMatcher } from './text-match';

interface CompiledOutputGuardrail {
  spec: OutputGuardrail;
  /** Words and patterns: also screen error messages, which can quote a row. */
  text?: TextMatcher;
}

function cellText(value: JsonValue): string | undefined {
  if (value === null) return undefined;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Where text of an output is, named by something that is not its content: a column or a stream. */
function* outputTexts(output: RunOutput): Generator<[where: string, text: string]> {
  if (output.kind === 'process') {
    yield ['stdout', output.stdout];
    yield ['stderr', output.stderr];
    return;
  }
  for (const row of output.rows) {
    for (const [column, value] of Object.entries(row)) {
      const text = cellText(value);
      if (text !== undefined) yield [`column ${column}`, text];
    }
  }
}

function sizeViolation(spec: OutputGuardrail, output: RunOutput, bytes: () => number): string | undefined {
  const { match } = spec;
  if (!('maxRows' in match || 'maxBytes' in match)) return undefined;
  // rowCount counts every row the statement returned, also those past the executor's own row cap.
  if (match.maxRows !== undefined && output.kind === 'sql' && output.rowCount > match.maxRows) {
    return `the result has ${output.rowCount} rows, more than ${match.maxRows}`;
  }
  if (match.maxBytes !== undefined && bytes() > match.maxBytes) return `the output is ${bytes()} bytes, more than ${match.maxBytes}`;
  return undefined;
}

function finding(spec: OutputGuardrail, detail: string): GuardrailFinding {
  return { guardrail: spec.name, on: 'output', action: spec.action, message: findingMessage(spec.message, detail) };
}

/**
 * The output guardrails a run ticket carries, ready to check what the adapter returned before
 * it leaves the executor. Findings name the guardrail and where it matched, never the text.
 */
export class OutputGuardrails {
  private constructor(private readonly compiled: readonly CompiledOutputGuardrail[]) {}

  /** Refuses (before anything runs) a ticket whose guardrail this executor cannot compile. */
  static compile(specs: readonly OutputGuardrail[] = []): OutputGuardrails {
    return new OutputGuardrails(
      specs.map((spec) => {
        try {
          const { match } = spec;
          const text = 'words' in match ? wordsMatcher(match.words) : 'pattern' in match ? patternMatcher(match.pattern) : undefined;
          return { spec, ...(text ? { text } : {}) };
        } catch (error) {
          throw new RungateError('TICKET_INVALID', `the ticket's output guardrail ${spec.name} cannot be compiled here (${(error as Error).message}); nothing was run`);
        }
      }),
    );
  }

  get isEmpty(): boolean {
    return this.compiled.length === 0;
  }

  check(output: RunOutput): GuardrailFinding[] {
    let size: number | undefined;
    const bytes = () => (size ??= Buffer.byteLength(JSON.stringify(output)));
    const findings: GuardrailFinding[] = [];
    for (const { spec, text } of this.compiled) {
      let detail = sizeViolation(spec, output, bytes);
      if (!detail && text) {
        for (const [where, value] of outputTexts(output)) {
          const found = text.find(value);
          if (found) {
            detail = `${found} is in the output (${where})`;
            break;
          }
        }
      }
      if (detail) findings.push(finding(spec, detail));
    }
    return findings;
  }

  /** An error message can quote what a row holds (a unique violation's key): the words and patterns screen it too. */
  checkMessage(message: string): GuardrailFinding[] {
    return this.compiled.flatMap(({ spec, text }) => {
      const found = text?.find(message);
      return found ? [finding(spec, `${found} is in the error message`)] : [];
    });
  }
}
