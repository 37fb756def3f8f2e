/**
 * The user's documentation as the tests read it: README.md plus every page
 * in docs/. Sections are marked `<!-- section:NAME -->` … `<!-- /section:NAME -->`
 * and may move from one page to another; tests find them by name, never by
 * file, so a table or a command keeps being checked wherever it lives.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.js';

/** One Markdown page of the documentation. */
export interface DocPage {
  /** Relative to the repository root, with `/`: `README.md`, `docs/devices.md`. */
  readonly file: string;
  readonly text: string;
}

/** A marked section of a page. */
export interface DocSection {
  readonly name: string;
  readonly file: string;
  /** 1-based line of the opening marker. */
  readonly line: number;
  /** The text between the markers. */
  readonly text: string;
}

/** README.md, then docs/*.md in name order. */
export function docPages(): DocPage[] {
  const files = [
    'README.md',
    ...readdirSync(join(REPO_ROOT, 'docs'))
      .filter((name) => name.endsWith('.md'))
      .sort()
      .map((name) => `docs/${name}`),
  ];
  return files.map((file) => ({ file, text: readFileSync(join(REPO_ROOT, file), 'utf8') }));
}

const OPEN = /^<!-- section:([a-z0-9-]+) -->$/;
const CLOSE = /^<!-- \/section:([a-z0-9-]+) -->$/;

/**
 * Every marked section of every page. Throws on a marker that is not closed,
 * a close without its open, a section inside another, or a name used twice:
 * a test that looks a section up must find exactly one.
 */
export function docSections(pages: readonly DocPage[] = docPages()): Map<string, DocSection> {
  const sections = new Map<string, DocSection>();
  for (const page of pages) {
    const lines = page.text.split('\n');
    let open: { name: string; line: number } | null = null;
    for (let i = 0; i < lines.length; i++) {
      const line = (lines[i] as string).trim();
      const opened = OPEN.exec(line);
      const closed = CLOSE.exec(line);
      if (opened !== null) {
        if (open !== null) throw new Error(`${page.file}:${i + 1}: section:${opened[1]} opens inside section:${open.name}`);
        open = { name: opened[1] as string, line: i + 1 };
      } else if (closed !== null) {
        if (open === null || open.name !== closed[1]) throw new Error(`${page.file}:${i + 1}: /section:${closed[1]} closes a section that is not open`);
        const earlier = sections.get(open.name);
        if (earlier !== undefined) throw new Error(`section:${open.name} is in ${earlier.file}:${earlier.line} and in ${page.file}:${open.line}`);
        sections.set(open.name, { name: open.name, file: page.file, line: open.line, text: lines.slice(open.line, i).join('\n') });
        open = null;
      }
    }
    if (open !== null) throw new Error(`${page.file}:${open.line}: section:${open.name} is never closed`);
  }
  return sections;
}

/** The section named `name`, on whichever page holds it. */
export function findSection(name: string, pages?: readonly DocPage[]): DocSection {
  const section = docSections(pages).get(name);
  if (section === undefined) throw new Error(`no page in README.md or docs/ has a section:${name}`);
  return section;
}
