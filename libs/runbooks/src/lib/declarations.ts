import { ParameterType, type ParameterSpec } from '@rungate/contracts';
import { RE2JS } from 're2js';
import type { Placeholder, Position } from './template';

export type OutputHelper = { kind: 'squote' } | { kind: 'dquote' } | { kind: 'quotechar'; char: string } | { kind: 'encodeb64' } | { kind: 'decodeb64' };

export interface Occurrence {
  placeholder: Placeholder;
  helpers: OutputHelper[];
}

export interface DeclarationFinding {
  message: string;
  position: Position;
}

type Draft = Partial<Omit<ParameterSpec, 'name'>> & { firstSeen: number };

const SINGLE_VALUE = ['type', 'default', 'pattern', 'minLength', 'maxLength', 'description', 'placeholder', 'order', 'asEnv', 'requiredMessage'] as const;

/**
 * Reads every occurrence's pipeline: declarations merge into one ParameterSpec per name
 * (contradictions are findings); output helpers stay with their occurrence.
 */
export function collectDeclarations(placeholders: readonly Placeholder[]): {
  parameters: ParameterSpec[];
  occurrences: Occurrence[];
  findings: DeclarationFinding[];
} {
  const drafts = new Map<string, Draft>();
  const findings: DeclarationFinding[] = [];
  const occurrences: Occurrence[] = [];

  placeholders.forEach((placeholder, index) => {
    const draft: Draft = drafts.get(placeholder.name) ?? { firstSeen: index };
    drafts.set(placeholder.name, draft);
    const helpers: OutputHelper[] = [];
    const here = (message: string) => findings.push({ message: `parameter ${placeholder.name}: ${message}`, position: placeholder.position });
    const set = <K extends (typeof SINGLE_VALUE)[number]>(key: K, value: Draft[K]) => {
      const current = draft[key];
      if (current !== undefined && current !== value) here(`contradictory declarations of ${key}: ${JSON.stringify(current)} and ${JSON.stringify(value)}`);
      draft[key] = value;
    };
    for (const { fn, args } of placeholder.calls) {
      const str = (n: number) => (typeof args[n] === 'string' ? (args[n] as string) : undefined);
      const int = (n: number) => (typeof args[n] === 'number' ? (args[n] as number) : typeof args[n] === 'string' && /^\d+$/.test(args[n] as string) ? Number(args[n]) : undefined);
      const needs = (count: number, kind: string) => {
        if (args.length !== count) here(`${fn} takes ${count === 0 ? 'no arguments' : `one ${kind}`}`);
        return args.length === count;
      };
      switch (fn) {
        case 'required':
          draft.required = true;
          if (args.length > 1) here('required takes at most one message');
          if (str(0) !== undefined) set('requiredMessage', str(0));
          break;
        case 'default':
          if (needs(1, 'string')) set('default', String(args[0]));
          break;
        case 'type': {
          const parsed = ParameterType.safeParse(str(0));
          if (!parsed.success) here(`unknown type ${JSON.stringify(args[0])}; one of ${ParameterType.options.join(', ')}`);
          else set('type', parsed.data);
          break;
        }
        case 'options':
          if (args.length === 0) here('options needs at least one value');
          else {
            const values = args.map(String);
            if (draft.options && JSON.stringify(draft.options) !== JSON.stringify(values)) here('contradictory declarations of options');
            draft.options = values;
          }
          break;
        case 'pattern':
          if (needs(1, 'string')) {
            try {
              RE2JS.compile(String(args[0]));
              set('pattern', String(args[0]));
            } catch (error) {
              here(`pattern is not a valid RE2 expression: ${(error as Error).message}`);
            }
          }
          break;
        case 'minlength':
        case 'maxlength': {
          const n = int(0);
          if (n === undefined || args.length !== 1) here(`${fn} takes one whole number`);
          else set(fn === 'minlength' ? 'minLength' : 'maxLength', n);
          break;
        }
        case 'order': {
          const n = int(0);
          if (n === undefined || args.length !== 1) here('order takes one whole number');
          else set('order', n);
          break;
        }
        case 'description':
        case 'placeholder':
          if (needs(1, 'string')) set(fn, String(args[0]));
          break;
        case 'asenv':
          if (needs(1, 'string')) {
            const name = String(args[0]);
            if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) here(`asenv name ${JSON.stringify(name)} is not a valid environment variable name`);
            else set('asEnv', name);
          }
          break;
        case 'squote':
        case 'dquote':
        case 'encodeb64':
        case 'decodeb64':
          if (needs(0, '')) helpers.push({ kind: fn });
          break;
        case 'quotechar':
          if (needs(1, 'string')) helpers.push({ kind: 'quotechar', char: String(args[0]) });
          break;
        default:
          here(`unknown function ${fn}`);
      }
    }
    occurrences.push({ placeholder, helpers });
  });

  const parameters = [...drafts.entries()]
    .sort(([, a], [, b]) => (a.order ?? Number.MAX_SAFE_INTEGER) - (b.order ?? Number.MAX_SAFE_INTEGER) || a.firstSeen - b.firstSeen)
    .map(([name, draft]) => {
      const type = draft.type ?? (draft.options ? 'select' : 'text');
      const spec: ParameterSpec = { name, type, required: draft.required ?? false };
      for (const key of SINGLE_VALUE) if (draft[key] !== undefined) Object.assign(spec, { [key]: draft[key] });
      spec.type = type;
      if (draft.options) spec.options = draft.options;
      if (type === 'select' && !draft.options) {
        const first = placeholders.find((p) => p.name === name);
        if (first) findings.push({ message: `parameter ${name}: type select needs options "a" "b" …`, position: first.position });
      }
      if (spec.minLength !== undefined && spec.maxLength !== undefined && spec.minLength > spec.maxLength) {
        const first = placeholders.find((p) => p.name === name);
        if (first) findings.push({ message: `parameter ${name}: minlength is greater than maxlength`, position: first.position });
      }
      return spec;
    });
  return { parameters, occurrences, findings };
}
