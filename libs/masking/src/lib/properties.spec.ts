import type { MaskingStrategy } from '@rungate/config';
import type { SqlOutput } from '@rungate/contracts';
import fc from 'fast-check';
import { entityValue, textWithEntities } from '../testing/arbitraries';
import { allEntities, profileDefinition } from '../testing/profiles';
import { maskSqlOutput } from './mask-output';
import { detect, maskText } from './mask-text';
import { compileMaskingProfile } from './profile';
import { MaskingTally } from './tally';

function occurrences(text: string, value: string): number {
  let count = 0;
  for (let at = text.indexOf(value); at >= 0; at = text.indexOf(value, at + value.length)) count++;
  return count;
}

/** Only a bearer token's value is masked, not the scheme before it. */
function maskedPart(value: string): string {
  return value.replace(/^bearer /i, '');
}

const STRATEGIES: MaskingStrategy[] = ['redact', 'mask', 'partial', 'hash'];
const RUNS = { numRuns: Number(process.env["MASKING_PROPERTY_RUNS"] ?? 400) };

describe.each(STRATEGIES)('masking with %s (fast-check)', (strategy) => {
  const profile = allEntities(strategy);

  it('leaves no detected value in the output', () => {
    fc.assert(
      fc.property(textWithEntities, (text) => {
        const values = detect(text, profile).map((d) => text.slice(d.start, d.end));
        const masked = maskText(text, profile, new MaskingTally());
        // A detected value may also stand undetected inside a longer token (an IBAN prefix
        // of a longer number); what must go are the occurrences that were detected.
        for (const value of new Set(values)) {
          const detected = values.filter((v) => v === value).length;
          expect(occurrences(masked, value)).toBeLessThanOrEqual(occurrences(text, value) - detected);
        }
      }),
      RUNS,
    );
  });

  it('is idempotent: masking masked output changes nothing and counts nothing', () => {
    fc.assert(
      fc.property(textWithEntities, (text) => {
        const once = maskText(text, profile, new MaskingTally());
        const again = new MaskingTally();
        expect(maskText(once, profile, again)).toBe(once);
        expect(again.total).toBe(0);
      }),
      RUNS,
    );
  });
});

describe('custom patterns that match masking\'s own output (fast-check)', () => {
  it.each(STRATEGIES)('stay idempotent with %s', (strategy) => {
    const other = strategy === 'partial' ? 'mask' : strategy;
    const custom = [
      { name: 'four_digits', pattern: '[0-9]{4}', strategy: other },
      { name: 'capitals', pattern: '\\b[A-Z_]{5,}\\b', strategy: other },
      { name: 'stars', pattern: '\\*+', strategy: other },
      { name: 'words', denyList: ['abc', 'xyz'], strategy: other },
    ];
    const profile = allEntities(strategy, { custom });
    fc.assert(
      fc.property(textWithEntities, (text) => {
        const once = maskText(text, profile, new MaskingTally());
        expect(maskText(once, profile, new MaskingTally())).toBe(once);
      }),
      RUNS,
    );
  });
});

describe('detection (fast-check)', () => {
  const profile = allEntities('redact');

  it('finds every generated value standing on its own, exactly', () => {
    fc.assert(
      fc.property(entityValue, fc.constantFrom(' ', '\n', ', ', '"'), (value, around) => {
        const text = `x${around}${value}${around}y`;
        const found = detect(text, profile).map((d) => text.slice(d.start, d.end));
        expect(found).toEqual([maskedPart(value)]);
      }),
      { numRuns: 1000 },
    );
  });

  it('counts each replacement once, by kind', () => {
    fc.assert(
      fc.property(fc.array(entityValue, { minLength: 1, maxLength: 6 }), (values) => {
        const tally = new MaskingTally();
        maskText(values.join(' ; '), profile, tally);
        expect(tally.total).toBe(values.length);
      }),
      RUNS,
    );
  });
});

describe('column rules (fast-check)', () => {
  const cell = fc.oneof(fc.string({ maxLength: 20 }), entityValue, fc.integer(), fc.constant(null), fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.string({ maxLength: 10 }), entityValue)));
  const output = fc.array(fc.tuple(cell, cell, cell), { maxLength: 20 }).map(
    (rows): SqlOutput => ({
      kind: 'sql',
      columns: [
        { name: 'email', type: 'text' },
        { name: 'note', type: 'jsonb' },
        { name: 'ssn', type: 'text', source: { schema: 'public', table: 'people', column: 'ssn' } },
      ],
      rows: rows.map(([email, note, ssn]) => ({ email, note, ssn })),
      rowCount: rows.length,
      statements: [{ command: 'SELECT', rowCount: rows.length }],
      truncated: false,
    }),
  );

  it.each(['redact', 'mask', 'hash'] as const)('keep the shape and are idempotent with %s', (strategy) => {
    const entities = { email: strategy, credit_card: strategy, iban: strategy, jwt: strategy };
    const profile = compileMaskingProfile(
      profileDefinition({ entities, columns: [{ match: 'email', strategy }, { match: '*.people.ssn', strategy }], hashKey: 'env:K' }),
      'key',
    );
    fc.assert(
      fc.property(output, (sql) => {
        const once = maskSqlOutput(sql, profile, new MaskingTally(), 1024 * 1024);
        expect(once.rows.map(Object.keys)).toEqual(sql.rows.map(Object.keys));
        expect(once.rowCount).toBe(sql.rowCount);
        const again = new MaskingTally();
        expect(maskSqlOutput(once, profile, again, 1024 * 1024).rows).toEqual(once.rows);
        expect(again.total).toBe(0);
      }),
      RUNS,
    );
  });
});
