// Test support: the checks test/docs.test.ts runs over the repository's text: markdown tables,
// links and their anchors, and citations of material that is not part of the project. Each
// function takes text and returns what it found, so the test can also prove it finds offences.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, from the sources or from their build in dist/. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url)).replace(/dist\/$/, '');

const SKIP_DIRS = new Set(['node_modules', 'dist', '.git', '.tmp', 'coverage']);

/** Every file under `dir` (relative to the root) whose name ends in one of `exts`. */
export function filesUnder(dir: string, exts: readonly string[]): string[] {
  const base = join(ROOT, dir);
  if (!existsSync(base)) return [];
  if (statSync(base).isFile()) return exts.some((e) => base.endsWith(e)) ? [dir] : [];
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) {
        if (!SKIP_DIRS.has(entry.name)) walk(p);
      } else if (exts.some((e) => entry.name.endsWith(e))) out.push(relative(ROOT, p));
    }
  };
  walk(base);
  return out.sort();
}

export interface Finding {
  readonly file: string;
  readonly line: number;
  readonly text: string;
}

// Built from pieces so that this file does not match itself.
const SHARED = new RegExp(`(?<![\\w.-])${'shared'}/|/work/${'shared'}\\b`);
const SECTION_SIGN = new RegExp('\u00a7');

/**
 * Lines citing the reference notes kept outside the project (their directory is named
 * "shared"), or a
 * numbered section (the section sign) of a document the project does not have: a contributor
 * cannot follow either. Cite kernel sources or docs/ instead.
 */
export function foreignCitations(file: string, text: string): Finding[] {
  const out: Finding[] = [];
  text.split('\n').forEach((line, i) => {
    if (SHARED.test(line) || SECTION_SIGN.test(line)) out.push({ file, line: i + 1, text: line.trim() });
  });
  return out;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors of a markdown document's headings (repeats get -1, -2… as on GitHub). */
export function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const m = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const s = slug(m[1] ?? '');
    const n = seen.get(s) ?? 0;
    seen.set(s, n + 1);
    out.add(n === 0 ? s : `${s}-${n}`);
  }
  return out;
}

/** Relative link targets of a markdown document: `[text](target)`, outside code fences. */
export function markdownLinks(markdown: string): { target: string; line: number }[] {
  const out: { target: string; line: number }[] = [];
  let fenced = false;
  markdown.split('\n').forEach((line, i) => {
    if (/^\s*```/.test(line)) fenced = !fenced;
    if (fenced) return;
    for (const m of line.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1] ?? '';
      if (!/^[a-z][a-z0-9+.-]*:/i.test(target)) out.push({ target, line: i + 1 });
    }
  });
  return out;
}

/**
 * `docs/….md` and `docs/….md#anchor` citations. With `commentsOnly`, only in comment lines (tests
 * also hold made-up paths in strings, to prove a check fails).
 */
export function docCitations(
  text: string,
  { commentsOnly = false }: { commentsOnly?: boolean } = {},
): { target: string; line: number }[] {
  const out: { target: string; line: number }[] = [];
  text.split('\n').forEach((line, i) => {
    if (commentsOnly && !/^\s*(\/\/|\/?\*)/.test(line)) return;
    for (const m of line.matchAll(/(?<![\w/.-])(docs\/[\w./-]*\.md(?:#[\w-]+)?)/g)) {
      out.push({ target: m[1] ?? '', line: i + 1 });
    }
  });
  return out;
}

/**
 * Why `target` (a link from `fromFile`, or a root-relative citation when `fromFile` is
 * undefined) does not resolve, or undefined when it does: the file must exist, and an anchor
 * must name one of its headings.
 */
export function brokenLink(target: string, fromFile: string | undefined): string | undefined {
  const [path = '', anchor] = target.split('#', 2);
  const abs =
    path === ''
      ? join(ROOT, fromFile ?? '')
      : fromFile
        ? resolve(ROOT, dirname(fromFile), decodeURI(path))
        : resolve(ROOT, path);
  if (!existsSync(abs)) return `${target}: no such file`;
  if (anchor === undefined || anchor === '') return undefined;
  if (!abs.endsWith('.md')) return `${target}: anchor into a file that is not markdown`;
  if (!anchors(readFileSync(abs, 'utf8')).has(anchor)) return `${target}: no heading #${anchor}`;
  return undefined;
}

/** The rows of the README table between `<!-- name:start -->` and `<!-- name:end -->`, as cells. */
export function tableRows(markdown: string, name: string): string[][] {
  const m = new RegExp(`<!-- ${name}:start -->([\\s\\S]*?)<!-- ${name}:end -->`).exec(markdown);
  if (!m) throw new Error(`no ${name} table markers`);
  return (m[1] ?? '')
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .slice(2) // header and separator
    .map((l) =>
      l
        .slice(1, l.endsWith('|') ? -1 : undefined)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim().replace(/\\\|/g, '|')),
    );
}

/** `` `a`, `b` `` → ['a', 'b']; an em dash (no labels) → []. */
export function codeList(cell: string): string[] {
  return [...cell.matchAll(/`([^`]*)`/g)].map((m) => m[1] ?? '');
}
