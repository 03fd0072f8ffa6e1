import { hasLoneSurrogate, type ParameterSpec } from '@rungate/contracts';
import { RE2JS } from 're2js';

export interface ParameterError {
  parameter: string;
  constraint: string;
  message: string;
}

export const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const EMAIL = /^[^\s@"\\<>()[\],;:]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
const TIME = /^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$/;
const TEL = /^\+?[0-9 ().-]{3,32}$/;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

const patterns = new Map<string, RE2JS>();
function re2(pattern: string): RE2JS {
  let compiled = patterns.get(pattern);
  if (!compiled) {
    compiled = RE2JS.compile(pattern);
    patterns.set(pattern, compiled);
  }
  return compiled;
}

function validDate(value: string): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

function validUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && !/\s/.test(value);
  } catch {
    return false;
  }
}

/** What is wrong with a value for a type, or undefined; never repeats the value. */
function typeProblem(spec: ParameterSpec, value: string): string | undefined {
  switch (spec.type) {
    case 'number':
      return NUMBER.test(value) && Number.isFinite(Number(value)) ? undefined : 'must be a number (digits, optional sign, fraction and exponent)';
    case 'boolean':
      return value === 'true' || value === 'false' ? undefined : 'must be true or false';
    case 'email':
      return value.length <= 254 && EMAIL.test(value) ? undefined : 'must be an e-mail address';
    case 'url':
      return validUrl(value) ? undefined : 'must be an absolute http(s) URL';
    case 'date':
      return validDate(value) ? undefined : 'must be a calendar date YYYY-MM-DD';
    case 'time':
      return TIME.test(value) ? undefined : 'must be a time HH:MM or HH:MM:SS';
    case 'tel':
      return TEL.test(value) ? undefined : 'must be a telephone number';
    case 'identifier':
      return IDENTIFIER.test(value) ? undefined : 'must be an identifier: a letter or _, then letters, digits, _ or $ (at most 63)';
    case 'select':
      return spec.options?.includes(value) ? undefined : `must be one of ${(spec.options ?? []).join(', ')}`;
    default:
      return undefined;
  }
}

function coerce(spec: ParameterSpec, raw: unknown): string | { problem: string } {
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'number') return Number.isFinite(raw) ? String(raw) : { problem: 'must be a finite number' };
  if (typeof raw === 'boolean') return String(raw);
  return { problem: `must be a ${spec.type === 'number' ? 'number' : spec.type === 'boolean' ? 'boolean' : 'string'}, not ${raw === null ? 'null' : Array.isArray(raw) ? 'a list' : typeof raw}` };
}

/**
 * Enforces every declared constraint on the server. Errors name the parameter and the
 * constraint; they never repeat a password's value.
 */
export function validateValues(parameters: readonly ParameterSpec[], args: Record<string, unknown>): { ok: true; values: Record<string, string> } | { ok: false; errors: ParameterError[] } {
  const errors: ParameterError[] = [];
  const values: Record<string, string> = {};
  const known = new Set(parameters.map((p) => p.name));
  for (const name of Object.keys(args)) {
    if (!known.has(name)) errors.push({ parameter: name, constraint: 'unknown', message: 'is not a parameter of this runbook' });
  }
  for (const spec of parameters) {
    const fail = (constraint: string, message: string) => errors.push({ parameter: spec.name, constraint, message });
    const raw = args[spec.name];
    let value: string;
    if (raw === undefined || raw === '') {
      if (spec.default !== undefined) value = spec.default;
      else if (spec.required) {
        fail('required', spec.requiredMessage ?? 'is required');
        continue;
      } else {
        value = '';
      }
    } else {
      const coerced = coerce(spec, raw);
      if (typeof coerced !== 'string') {
        fail('type', coerced.problem);
        continue;
      }
      value = coerced;
    }
    if (value.includes('\u0000')) {
      fail('characters', 'must not contain NUL characters');
      continue;
    }
    if (hasLoneSurrogate(value)) {
      fail('characters', 'must be well-formed Unicode text: it holds half of a UTF-16 surrogate pair (a lone surrogate), which is not a character');
      continue;
    }
    if (value !== '' || spec.required) {
      const problem = typeProblem(spec, value);
      if (problem) {
        fail('type', problem);
        continue;
      }
      if (spec.options && spec.type !== 'select' && !spec.options.includes(value)) {
        fail('options', `must be one of ${spec.options.join(', ')}`);
        continue;
      }
    }
    const length = [...value].length;
    if (spec.minLength !== undefined && length < spec.minLength) fail('minlength', `must be at least ${spec.minLength} characters long`);
    else if (spec.maxLength !== undefined && length > spec.maxLength) fail('maxlength', `must be at most ${spec.maxLength} characters long`);
    else if (spec.pattern !== undefined && (value !== '' || spec.required) && !re2(spec.pattern).matches(value)) {
      fail('pattern', `must match the pattern ${spec.pattern}`);
    } else values[spec.name] = value;
  }
  return errors.length ? { ok: false, errors } : { ok: true, values };
}
