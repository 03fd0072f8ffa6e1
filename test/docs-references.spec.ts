import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import * as ts from 'typescript';

/**
 * Every document the repository cites exists: documents named by path (`docs/design.md`,
 * `libs/masking/README.md`, `../README.md`), ADRs by number (`ADR 8` is
 * docs/adr/0008-*.md) and relative Markdown links. A citation of a file that is not in the
 * repository (a design document kept elsewhere) sends the reader nowhere.
 *
 * Markdown and configuration files are read whole; in TypeScript and JavaScript only the
 * comments are, so a spec's fixture (the path of a file in a test's runbook repository)
 * is not taken for a citation.
 */
const ROOT = join(__dirname, '..');
const ADR_DIR = join(ROOT, 'docs', 'adr');
const CODE = /\.(ts|cts|mts|js|cjs|mjs)$/;
const TEXT = /(\.(md|ya?ml|conf|sh|example)|Dockerfile|\.ci\/run)$/;

interface Citation {
  file: string;
  line: number;
  cited: string;
}

function trackedFiles(): string[] {
  // Tracked and new files alike (a file about to be committed is checked before it is).
  const listed = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
  return listed.split('\n').filter((file) => file && (CODE.test(file) || TEXT.test(file)) && existsSync(join(ROOT, file)));
}

/** The comments of a TypeScript or JavaScript file, each with the line it starts on. */
function comments(text: string): { text: string; line: number }[] {
  const found: { text: string; line: number }[] = [];
  const source = ts.createSourceFile('file.ts', text, ts.ScriptTarget.Latest, false);
  const seen = new Set<number>();
  const collect = (ranges: readonly ts.CommentRange[] | undefined) => {
    for (const range of ranges ?? []) {
      if (seen.has(range.pos)) continue;
      seen.add(range.pos);
      found.push({ text: text.slice(range.pos, range.end), line: source.getLineAndCharacterOfPosition(range.pos).line + 1 });
    }
  };
  const visit = (node: ts.Node) => {
    collect(ts.getLeadingCommentRanges(text, node.getFullStart()));
    collect(ts.getTrailingCommentRanges(text, node.getEnd()));
    ts.forEachChild(node, visit);
  };
  visit(source);
  collect(ts.getLeadingCommentRanges(text, source.endOfFileToken.getFullStart()));
  return found;
}

/** The parts of a file that may cite documents, with their first line numbers. */
function citingText(file: string): { text: string; line: number }[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return CODE.test(file) ? comments(text) : [{ text, line: 1 }];
}

function lineOf(chunk: { text: string; line: number }, index: number): number {
  return chunk.line + chunk.text.slice(0, index).split('\n').length - 1;
}

/** `ADR 8`, `ADRs 8 and 10`, `ADR 9, 12 or 14`: each number cited. */
function adrCitations(file: string): Citation[] {
  const found: Citation[] = [];
  for (const chunk of citingText(file)) {
    for (const match of chunk.text.matchAll(/\bADRs? (\d+(?:(?:, | and | or |, and )\d+)*)/g)) {
      for (const number of (match[1] as string).match(/\d+/g) ?? []) found.push({ file, line: lineOf(chunk, match.index), cited: `ADR ${number}` });
    }
  }
  return found;
}

/** Markdown files named by a path, and relative links in Markdown; each resolved to a repository path. */
function documentCitations(file: string): Citation[] {
  const found: Citation[] = [];
  const base = dirname(file);
  for (const chunk of citingText(file)) {
    const cite = (index: number, path: string) => found.push({ file, line: lineOf(chunk, index), cited: path });
    if (file.endsWith('.md')) {
      for (const match of chunk.text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = (match[1] as string).split('#')[0] as string;
        if (target === '' || /^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // an anchor in this file, or a URL
        cite(match.index, relative(ROOT, join(ROOT, base, target)));
      }
    }
    // A path to a Markdown file; from the repository's root unless it starts with ./ or ../.
    for (const match of chunk.text.matchAll(/(?<![\w/.-])((?:\.\.?\/)*(?:[\w.-]+\/)*[\w-]+\.md)\b/g)) {
      const path = match[1] as string;
      if (chunk.text[match.index - 2] === ']' && chunk.text[match.index - 1] === '(') continue; // a link, above
      const fromRoot = !path.startsWith('.') && path.includes('/');
      const resolved = fromRoot ? path : relative(ROOT, join(ROOT, base, path));
      // A bare name (`README.md`) is a file beside the one citing it, or at the root.
      cite(match.index, fromRoot || path.includes('/') || existsSync(join(ROOT, resolved)) ? resolved : path);
    }
  }
  return found;
}

function adrExists(number: number): boolean {
  const prefix = `${String(number).padStart(4, '0')}-`;
  return readdirSync(ADR_DIR).some((name) => name.startsWith(prefix) && name.endsWith('.md'));
}

const files = trackedFiles();

describe('cited documents', () => {
  it('finds the citations it checks', () => {
    // Guards the scan itself: these citations are known to be in the repository.
    const adrs = files.flatMap(adrCitations).map((c) => c.cited);
    const docs = files.flatMap(documentCitations).map((c) => c.cited);
    expect(adrs).toEqual(expect.arrayContaining(['ADR 8', 'ADR 21']));
    expect(docs).toEqual(expect.arrayContaining(['docs/design.md', 'libs/masking/README.md', 'docs/configuration.md']));
  });

  it('every ADR cited by number exists in docs/adr', () => {
    const missing = files
      .flatMap(adrCitations)
      .filter((citation) => !adrExists(Number(citation.cited.slice('ADR '.length))))
      .map((c) => `${c.file}:${c.line} cites ${c.cited}, which docs/adr does not have`);
    expect(missing).toEqual([]);
  });

  it('every document cited by path or linked from Markdown exists', () => {
    const missing = files
      .flatMap(documentCitations)
      .filter((citation) => !existsSync(join(ROOT, citation.cited)))
      .map((c) => `${c.file}:${c.line} cites ${c.cited}, which is not in the repository`);
    expect(missing).toEqual([]);
  });
});
