import type { MaskingCustomEntity } from '@rungate/config';
import { RE2JS } from 're2js';
import type { Detection, Detector } from '../detection';

function escapeRe2(literal: string): string {
  return literal.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

/**
 * A configured entity. Its pattern and deny list come from rungate.yaml, so they run on RE2
 * (re2js): linear in the text whatever the pattern. The deny list is one case-insensitive
 * alternation of the literal words, matched where they stand as whole words.
 */
export function customDetector(entity: MaskingCustomEntity): Detector {
  const patterns: RE2JS[] = [];
  if (entity.pattern !== undefined) patterns.push(RE2JS.compile(entity.pattern));
  if (entity.denyList !== undefined) {
    patterns.push(RE2JS.compile(`(?i)\\b(?:${entity.denyList.map(escapeRe2).join('|')})\\b`));
  }
  return {
    kind: entity.name,
    applies: () => true,
    find(text: string, found: Detection[]): void {
      for (const pattern of patterns) {
        const matcher = pattern.matcher(text);
        while (matcher.find()) {
          const start = matcher.start();
          const end = matcher.end();
          if (end > start) found.push({ start, end, kind: entity.name, score: entity.score });
        }
      }
    },
  };
}
