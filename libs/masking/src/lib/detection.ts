/** One value found in a text: `[start, end)` in UTF-16 units, its entity kind and how sure the detector is. */
export interface Detection {
  start: number;
  end: number;
  kind: string;
  score: number;
}

/**
 * What one pass over a text counts, so that a detector whose value cannot be in it (a card
 * needs 13 digits, an e-mail an `@`) costs one comparison instead of a regex scan. SQL
 * results are mostly short cells, where this decides the cost of masking.
 */
export interface TextFeatures {
  readonly digits: number;
  readonly at: number;
  readonly colons: number;
  readonly dots: number;
  readonly upper: number;
  readonly dashes: number;
}

/**
 * Counts into one object reused for every text: masking is synchronous, and a fresh object
 * per SQL cell was a measurable share of the garbage a wide result made. Read it before the
 * next call.
 */
const shared = { digits: 0, at: 0, colons: 0, dots: 0, upper: 0, dashes: 0 };

export function textFeatures(text: string): TextFeatures {
  let digits = 0;
  let at = 0;
  let colons = 0;
  let dots = 0;
  let upper = 0;
  let dashes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    else if (c >= 65 && c <= 90) upper++;
    else if (c === 64) at++;
    else if (c === 58) colons++;
    else if (c === 46) dots++;
    else if (c === 45) dashes++;
  }
  shared.digits = digits;
  shared.at = at;
  shared.colons = colons;
  shared.dots = dots;
  shared.upper = upper;
  shared.dashes = dashes;
  return shared;
}

/**
 * A built-in detector. Its regexes are JavaScript's (backtracking), so each is written to be
 * linear: every quantified part is a single character class that is disjoint from what
 * follows it, or a bounded repetition, and starts are anchored by a look-behind that fails
 * in O(1) inside a run. Validation (Luhn, mod-97, octet ranges, JSON headers) runs in code
 * on each candidate. Patterns that come from configuration run on RE2 instead (custom.ts).
 */
export interface Detector {
  readonly kind: string;
  /** Cheap test on the text's features; false means the detector cannot find anything in it. */
  applies(features: TextFeatures, text: string): boolean;
  find(text: string, found: Detection[]): void;
}

/** Runs a global regex over `text`, calling `each` per match; regexes are shared, so lastIndex is reset. */
export function eachMatch(pattern: RegExp, text: string, each: (match: RegExpExecArray) => void): void {
  pattern.lastIndex = 0;
  for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
    if (match[0].length === 0) pattern.lastIndex++;
    else each(match);
  }
}
