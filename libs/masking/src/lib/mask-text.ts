import { eachMatch, textFeatures, type Detection } from './detection';
import type { MaskingProfile } from './profile';
import { applyStrategy } from './strategies';
import type { MaskingTally } from './tally';

function overlaps(a: { start: number; end: number }, b: { start: number; end: number }): boolean {
  return a.start < b.end && b.start < a.end;
}

/** Higher score first; among equals the longer value (an IPv6 address over the IPv4 inside it). */
function better(a: Detection, b: Detection): number {
  return b.score - a.score || b.end - b.start - (a.end - a.start) || a.start - b.start;
}

/**
 * Non-overlapping detections in text order. Candidates are grouped into clusters of
 * overlapping spans (almost always one candidate each); within a cluster the best win.
 */
function resolve(candidates: Detection[]): Detection[] {
  candidates.sort((a, b) => a.start - b.start || b.end - a.end);
  const chosen: Detection[] = [];
  let cluster: Detection[] = [];
  let clusterEnd = -1;
  const flush = () => {
    if (cluster.length === 1) chosen.push(cluster[0] as Detection);
    else if (cluster.length > 1) {
      const kept: Detection[] = [];
      for (const candidate of cluster.sort(better)) if (kept.every((k) => !overlaps(k, candidate))) kept.push(candidate);
      chosen.push(...kept.sort((a, b) => a.start - b.start));
    }
    cluster = [];
  };
  for (const candidate of candidates) {
    if (candidate.start >= clusterEnd) flush();
    cluster.push(candidate);
    clusterEnd = Math.max(clusterEnd, candidate.end);
  }
  flush();
  return chosen;
}

/** Spans masking wrote in an earlier pass; nothing overlapping them is detected again. */
function ownTokenSpans(text: string, profile: MaskingProfile): { start: number; end: number }[] {
  const spans: { start: number; end: number }[] = [];
  // Every own token has a '[' or starts with '****': most texts have neither, and skip the scan.
  if (!text.includes('[') && !text.includes('****')) return spans;
  eachMatch(profile.ownTokens, text, (match) => spans.push({ start: match.index, end: match.index + match[0].length }));
  return spans;
}

/** Drops candidates overlapping a token: both in text order, one sweep (own tokens never overlap). */
function withoutOwnTokens(candidates: Detection[], own: { start: number; end: number }[]): Detection[] {
  if (own.length === 0) return candidates;
  candidates.sort((a, b) => a.start - b.start);
  const kept: Detection[] = [];
  let next = 0;
  for (const candidate of candidates) {
    while (next < own.length && (own[next] as { end: number }).end <= candidate.start) next++;
    const span = own[next];
    if (span === undefined || span.start >= candidate.end) kept.push(candidate);
  }
  return kept;
}

/** The values `profile` would mask in `text`, in order, scored at or above its threshold. */
export function detect(text: string, profile: MaskingProfile): Detection[] {
  if (text.length === 0 || profile.detectors.length === 0) return [];
  const features = textFeatures(text);
  const candidates: Detection[] = [];
  for (const detector of profile.detectors) {
    if (detector.applies(features, text)) detector.find(text, candidates);
  }
  if (candidates.length === 0) return candidates;
  const scored = candidates.every((candidate) => candidate.score >= profile.threshold) ? candidates : candidates.filter((candidate) => candidate.score >= profile.threshold);
  if (scored.length === 0) return scored;
  const fresh = withoutOwnTokens(scored, ownTokenSpans(text, profile));
  return fresh.length <= 1 ? fresh : resolve(fresh);
}

/** After this many passes whatever is still found is redacted, which only writes own tokens. */
const MAX_PASSES = 3;
const REDACT = { strategy: 'redact' as const };

function replaceDetections(text: string, found: Detection[], profile: MaskingProfile, tally: MaskingTally, redactAll: boolean): string {
  let out = '';
  let at = 0;
  for (const detection of found) {
    const rule = redactAll ? REDACT : profile.rules.get(detection.kind);
    if (!rule) continue;
    out += text.slice(at, detection.start) + applyStrategy(detection.kind, text.slice(detection.start, detection.end), rule, profile.hashKey);
    at = detection.end;
    tally.add(detection.kind);
  }
  return out + text.slice(at);
}

/**
 * Replaces every detected value with its entity's strategy and counts it in `tally`.
 *
 * Detectors look at a value's neighbours (a phone number glued to a digit is not one), and
 * masking changes neighbours: `(202) 555-0143+1 202 555 0143` shows its second number only
 * once the first became `[PHONE]`. So masking repeats until nothing is found — the output is
 * a fixed point, which is what makes masking idempotent (fast-check shows it) — and a value
 * still found after a few passes is redacted, whose tokens nothing detects again.
 */
export function maskText(text: string, profile: MaskingProfile, tally: MaskingTally): string {
  let current = text;
  for (let pass = 1; ; pass++) {
    const found = detect(current, profile);
    if (found.length === 0) return current;
    const next = replaceDetections(current, found, profile, tally, pass > MAX_PASSES);
    // A cell that was one value and became one own token has nothing left to detect (the
    // common case in SQL results); only partial leaves characters a second pass must see.
    if (isWholeOwnToken(current, found, profile)) return next;
    current = next;
  }
}

function isWholeOwnToken(text: string, found: Detection[], profile: MaskingProfile): boolean {
  if (found.length !== 1) return false;
  const [only] = found as [Detection];
  return only.start === 0 && only.end === text.length && profile.rules.get(only.kind)?.strategy !== 'partial';
}
