/** A high surrogate not followed by a low one, or a low surrogate not preceded by a high one. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * True when a string holds half of a UTF-16 surrogate pair: JSON can carry it, but it is not
 * Unicode text, so no UTF-8 consumer (PostgreSQL, a SIEM, a target) can take it as it is.
 */
export function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}
