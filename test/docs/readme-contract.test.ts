/**
 * The documentation's code tables are the user's reference: a device author
 * reads the close and nack codes there, a script author the exit codes. Each
 * table must list exactly the codes the hub and the CLI use (src/errors.ts),
 * so a code added to the code without a line in the docs fails here.
 *
 * Tables are found on every page (README.md and docs/*.md), wherever they
 * moved, by their header's first cell: `close code` (one table per listener),
 * `nack code`, and `exit`. The console's own tables, `close code` and
 * `HTTP status`, are the ones inside `<!-- section:console -->`, on whichever
 * page holds it, and must list exactly the codes and statuses of
 * DASHBOARD_REASONS.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLOSE, DASHBOARD_REASONS, ERRORS, EXIT, WIRE_ERROR_CODES, type ErrorCode } from '../../src/errors.js';
import { docPages, findSection } from '../helpers/docs.js';

interface Table {
  /** `file:line` of the header row, for messages. */
  readonly at: string;
  readonly header: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

/** Splits a table row into trimmed cells; `\|` inside a cell is not a separator. */
function cells(row: string): string[] {
  return row
    .trim()
    .replace(/^\|/, '')
    .replace(/(?<!\\)\|$/, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

/** Every pipe table in a Markdown page: a header row, a `---` row, then body rows. */
function tables(file: string, markdown: string): Table[] {
  const lines = markdown.split('\n');
  const found: Table[] = [];
  for (let i = 0; i + 1 < lines.length; i++) {
    const header = lines[i] as string;
    const rule = lines[i + 1] as string;
    if (!header.trimStart().startsWith('|') || !/^\s*\|(\s*:?-+:?\s*\|)+\s*$/.test(rule)) continue;
    const rows: string[][] = [];
    let j = i + 2;
    for (; j < lines.length && (lines[j] as string).trimStart().startsWith('|'); j++) rows.push(cells(lines[j] as string));
    found.push({ at: `${file}:${i + 1}`, header: cells(header).map((c) => c.toLowerCase()), rows });
    i = j - 1;
  }
  return found;
}

/** A cell without its Markdown code quotes. */
const bare = (cell: string): string => cell.replace(/^`(.*)`$/, '$1');

const DOC_TABLES = docPages().flatMap((page) => tables(page.file, page.text));

function tablesNamed(first: string): Table[] {
  return DOC_TABLES.filter((t) => t.header[0] === first);
}

function onlyTableNamed(first: string): Table {
  const found = tablesNamed(first);
  assert.equal(found.length, 1, `docs: expected one table whose header starts with "${first}", found ${found.length}`);
  return found[0] as Table;
}

/** Sorted, with duplicates reported: a code listed twice in one table is a mistake too. */
function listed<T>(values: readonly T[], what: string): T[] {
  const seen = new Set<T>();
  for (const v of values) {
    assert.ok(!seen.has(v), `${what}: ${String(v)} is listed twice`);
    seen.add(v);
  }
  return [...seen].sort();
}

test('the docs\' close-code tables list exactly the codes in CLOSE', () => {
  const found = tablesNamed('close code');
  assert.ok(found.length > 0, 'docs: no table whose header starts with "close code"');
  const documented = new Set<number>();
  for (const table of found) {
    const codes = table.rows.map((row) => {
      const cell = bare(row[0] ?? '');
      assert.match(cell, /^\d{4}$/, `${table.at}: "${cell}" in a close-code table is not a close code`);
      return Number(cell);
    });
    for (const code of listed(codes, `close-code table at ${table.at}`)) documented.add(code);
  }
  const inCode = listed(Object.values(CLOSE), 'CLOSE (two members share a value)');
  assert.deepEqual([...documented].sort(), inCode, 'close codes documented in the docs vs CLOSE in src/errors.ts');
});

test('the docs\' nack-code table lists exactly WIRE_ERROR_CODES', () => {
  const table = onlyTableNamed('nack code');
  const documented = listed(table.rows.map((row) => bare(row[0] ?? '')), `nack-code table at ${table.at}`);
  assert.deepEqual(documented, [...WIRE_ERROR_CODES].sort(), 'nack codes documented in the docs vs WIRE_ERROR_CODES in src/errors.ts');
});

test('the docs\' exit-code table lists every EXIT value and every error code under its exit code', () => {
  const table = onlyTableNamed('exit');
  assert.equal(table.header[1], 'code', `${table.at}: the exit-code table's second column holds the FH_ERR_* codes`);
  const exits: number[] = [];
  const codes: string[] = [];
  for (const row of table.rows) {
    const exit = row[0] ?? '';
    assert.match(exit, /^\d+$/, `${table.at}: "${exit}" is not an exit code`);
    exits.push(Number(exit));
    for (const code of (row[1] ?? '').match(/FH_ERR_[A-Z0-9_]+/g) ?? []) {
      assert.ok(Object.hasOwn(ERRORS, code), `docs: ${code} is not in ERRORS (src/errors.ts)`);
      assert.equal(ERRORS[code as ErrorCode].exitCode, Number(exit), `docs list ${code} under exit ${exit}`);
      codes.push(code);
    }
  }
  assert.deepEqual(
    listed(exits, 'docs exit-code table').sort((a, b) => a - b),
    listed(Object.values(EXIT), 'EXIT (two members share a value)').sort((a, b) => a - b),
    'exit codes documented in the docs vs EXIT in src/errors.ts',
  );
  assert.deepEqual(listed(codes, 'docs exit-code table'), Object.keys(ERRORS).sort(), 'error codes documented in the docs vs ERRORS in src/errors.ts');
});

/** The console section's only table whose header starts with `first`. */
function consoleTable(first: string): Table {
  const section = findSection('console');
  const found = tables(`${section.file} (section:console, line ${section.line} +)`, section.text).filter((t) => t.header[0] === first);
  assert.equal(found.length, 1, `docs: expected one table whose header starts with "${first}" in section:console (${section.file}), found ${found.length}`);
  return found[0] as Table;
}

/** The numbers in a table's first column (close codes, HTTP statuses), each of `digits` digits, without duplicates, sorted. */
function numbersIn(table: Table, digits: number, what: string): number[] {
  const values = table.rows.map((row) => {
    const cell = bare(row[0] ?? '');
    assert.match(cell, new RegExp(`^\\d{${digits}}$`), `${table.at}: "${cell}" in a ${what} table is not a ${what}`);
    return Number(cell);
  });
  return listed(values, `${what} table at ${table.at}`).sort((a, b) => a - b);
}

test('the console\'s close-code table lists exactly the close codes of DASHBOARD_REASONS', () => {
  const inCode = new Set<number>();
  for (const spec of Object.values(DASHBOARD_REASONS)) if (spec.kind === 'close') inCode.add(spec.code);
  assert.deepEqual(numbersIn(consoleTable('close code'), 4, 'close code'), [...inCode].sort((a, b) => a - b), 'dashboard close codes documented vs DASHBOARD_REASONS in src/errors.ts');
});

test('the console\'s HTTP-status table lists exactly the statuses of DASHBOARD_REASONS', () => {
  const inCode = new Set<number>();
  for (const spec of Object.values(DASHBOARD_REASONS)) if (spec.kind === 'http') inCode.add(spec.status);
  assert.deepEqual(numbersIn(consoleTable('http status'), 3, 'HTTP status'), [...inCode].sort((a, b) => a - b), 'dashboard HTTP refusals documented vs DASHBOARD_REASONS in src/errors.ts');
});
