#!/usr/bin/env node
// Runs the test suite with Node's own runner on an explicit list of files.
// Node 20's runner finds no `.ts` files by itself and would report success
// having run nothing, so the list is built here and an empty list fails.
//
//   npm test                       every test/**/*.test.ts
//   npm test -- test/pki           the files under one folder
//   npm test -- test/pki/ca.test.ts
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');

function collect(path) {
  if (statSync(path).isFile()) return path.endsWith('.test.ts') ? [path] : [];
  return readdirSync(path, { withFileTypes: true })
    .filter((e) => e.name !== 'node_modules' && !e.name.startsWith('.'))
    .flatMap((e) => collect(join(path, e.name)));
}

const args = process.argv.slice(2);
const roots = args.length > 0 ? args.map((a) => resolve(a)) : [join(root, 'test')];
const files = roots.flatMap(collect).map((f) => relative(root, f)).sort();

if (files.length === 0) {
  process.stderr.write(`run-tests: no *.test.ts files under ${roots.join(', ')}\n`);
  process.exit(1);
}
process.stdout.write(`run-tests: ${files.length} test files\n`);

// Most tests wait on sockets, fsync and child processes rather than the CPU,
// so a few files run side by side even on two cores.
const concurrency = process.env.FLEETHUB_TEST_CONCURRENCY ?? '3';
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=180000', ...files],
  { cwd: root, stdio: 'inherit' },
);
child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
