import fc from 'fast-check';
import { AUDIT_TEXT_MARK } from '../lib/audit-text';

/**
 * Text a caller can send through JSON: any UTF-16 code unit — lone surrogates, NUL and
 * control characters included — with the awkward ones drawn often, plus what the audit
 * text encoding itself must not trip on (its mark, backslashes, escapes spelled out).
 */
export const hostileUnit: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit)) },
  { weight: 3, arbitrary: fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff', '\u2028', '\ufffd', '\u007f', '\u001b') },
  { weight: 2, arbitrary: fc.constantFrom('😀', '𝄞', 'é', 'a', 'Z', '0', ' ', '\n', '\t') },
  { weight: 2, arbitrary: fc.constantFrom('\\', '"', "'", '\\u0000', '\\ud800', AUDIT_TEXT_MARK, '\ufffdjson', '%', '_', '*') },
);

/** Short and hostile, or occasionally long (tens of kilobytes). */
export const hostileText: fc.Arbitrary<string> = fc.oneof(
  { weight: 9, arbitrary: fc.string({ unit: hostileUnit, maxLength: 24 }) },
  { weight: 1, arbitrary: fc.string({ unit: hostileUnit, minLength: 2_000, maxLength: 20_000 }) },
);

/** A JSON value nested `depth` levels, alternating lists and objects, with hostile keys and leaves. */
export function nestedValue(depth: number, key: string, leaf: string): unknown {
  let value: unknown = leaf;
  for (let level = 0; level < depth; level++) value = level % 2 === 0 ? [value] : { [key]: value };
  return value;
}

/** JSON values with hostile strings everywhere, shallow or hundreds of levels deep. */
export const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ stringUnit: hostileUnit, maxDepth: 4 }) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 20, max: 400 }), hostileText, hostileText).map(([depth, key, leaf]) => nestedValue(depth, key, leaf)) },
);
