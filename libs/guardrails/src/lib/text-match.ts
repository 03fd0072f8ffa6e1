import { RE2JS } from 're2js';

/** What a words or pattern guardrail found, in words safe to show: a configured word, never the text around it. */
export interface TextMatcher {
  find(text: string): string | undefined;
}

/** Letters, digits and `_` in any script: a word is whole when neither neighbour is one of them. */
const WORD_CHARS = '\\p{L}\\p{N}_';

/** Case-insensitive, whole words: `DROP` matches `drop table` and `x DROP`, not `dropdown`. */
export function wordsMatcher(words: readonly string[]): TextMatcher {
  const alternatives = words.map((word) => RE2JS.quote(word)).join('|');
  const re = RE2JS.compile(`(?:^|[^${WORD_CHARS}])(${alternatives})(?:$|[^${WORD_CHARS}])`, RE2JS.CASE_INSENSITIVE);
  const byLowerCase = new Map(words.map((word) => [word.toLowerCase(), word]));
  return {
    find(text) {
      // test() runs on RE2's DFA without capture groups; which word matched is asked only on a match.
      if (!re.test(text)) return undefined;
      const matcher = re.matcher(text);
      matcher.find();
      const found = matcher.group(1) ?? '';
      return `the word "${byLowerCase.get(found.toLowerCase()) ?? words[0]}"`;
    },
  };
}

/** Patterns arrive in every run ticket; the few an executor sees are compiled once each. */
const compiledPatterns = new Map<string, RE2JS>();
const MAX_COMPILED_PATTERNS = 256;

function compilePattern(pattern: string): RE2JS {
  let re = compiledPatterns.get(pattern);
  if (!re) {
    re = RE2JS.compile(pattern);
    if (compiledPatterns.size >= MAX_COMPILED_PATTERNS) compiledPatterns.clear();
    compiledPatterns.set(pattern, re);
  }
  return re;
}

/** RE2, unanchored: linear in the text whatever the pattern, so no output or parameter can stall a check. */
export function patternMatcher(pattern: string): TextMatcher {
  const re = compilePattern(pattern);
  return { find: (text) => (re.test(text) ? 'text matching its pattern' : undefined) };
}
