/**
 * The README sends a reader into docs/, and the pages link to each other's
 * headings: a page renamed or a heading reworded must not leave a link that
 * goes nowhere. Every relative link must name a file that exists, and every
 * `#anchor` a heading of its page, as GitHub makes anchors from headings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { docPages, docSections, type DocPage } from '../helpers/docs.js';
import { REPO_ROOT } from '../helpers/paths.js';

/** GitHub's anchor for a heading: link text kept, lower case, punctuation dropped, spaces to `-`. */
function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}_\- ]/gu, '')
    .replace(/ /g, '-');
}

/** Every heading's anchor on a page (outside code blocks); repeats get `-1`, `-2`, as on GitHub. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const found = new Set<string>();
  let fence = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) fence = !fence;
    const heading = fence ? null : /^#{1,6} (.*)$/.exec(line);
    if (heading === null) continue;
    const base = slug(heading[1] as string);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    found.add(n === 0 ? base : `${base}-${n}`);
  }
  return found;
}

/** Markdown links and images outside code, as `[file:line, target]`. */
function links(page: DocPage): [string, string][] {
  const found: [string, string][] = [];
  let fence = false;
  page.text.split('\n').forEach((line, i) => {
    if (line.startsWith('```')) fence = !fence;
    if (fence) return;
    const prose = line.replace(/`[^`]*`/g, '');
    for (const m of prose.matchAll(/\]\(([^)\s]+)\)/g)) found.push([`${page.file}:${i + 1}`, m[1] as string]);
  });
  return found;
}

const PAGES = docPages();

test('every relative link in README.md and docs/ names a file that exists and a heading it has', () => {
  const anchorsOf = new Map(PAGES.map((page) => [page.file, anchors(page.text)]));
  const broken: string[] = [];
  let checked = 0;
  for (const page of PAGES) {
    for (const [at, target] of links(page)) {
      if (/^[a-z]+:/i.test(target)) continue;
      checked++;
      const [path = '', anchor] = target.split('#', 2);
      const file = path === '' ? page.file : normalize(join(dirname(page.file), path)).replaceAll('\\', '/');
      if (!existsSync(join(REPO_ROOT, file))) {
        broken.push(`${at}: ${target}: no file ${file}`);
        continue;
      }
      if (anchor === undefined || !file.endsWith('.md')) continue;
      const known = anchorsOf.get(file);
      if (known === undefined) broken.push(`${at}: ${target}: ${file} is not a documentation page`);
      else if (!known.has(anchor)) broken.push(`${at}: ${target}: ${file} has no heading #${anchor}`);
    }
  }
  assert.ok(checked > 20, `only ${checked} relative links found: is the link reader broken?`);
  assert.deepEqual(broken, []);
});

test('the README links to every page in docs/', () => {
  const readme = PAGES.find((page) => page.file === 'README.md');
  assert.ok(readme !== undefined);
  const linked = new Set(links(readme).map(([, target]) => target.split('#')[0]));
  const unlinked = PAGES.filter((page) => page.file !== 'README.md' && !linked.has(page.file)).map((page) => page.file);
  assert.deepEqual(unlinked, [], 'pages in docs/ that the README does not link to');
});

test('the README stays a short introduction', () => {
  const readme = PAGES.find((page) => page.file === 'README.md');
  assert.ok(readme !== undefined);
  const lines = readme.text.split('\n').length;
  assert.ok(lines < 300, `README.md has ${lines} lines; the details belong in docs/`);
  assert.match(readme.text, /^# fleethub\n/, 'README.md starts with its title');
  assert.match(readme.text, /```sh\nnpm install && npm start .*\nnpm test /, 'README.md shows `npm install && npm start` and `npm test`');
});

test('every section marker in README.md and docs/ is closed, and each name is used once', () => {
  const sections = docSections(PAGES);
  for (const name of ['quickstart', 'pki', 'hub', 'store', 'bridge', 'console', 'sim', 'configuration', 'errors', 'architecture', 'development']) {
    assert.ok(sections.has(name), `section:${name} is on no page`);
  }
});
