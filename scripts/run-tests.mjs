#!/usr/bin/env node
// Runs the test suite with Node's own runner on an explicit list of files.
//
// The tests are compiled with tsc first and run as plain JavaScript: no
// loader hooks in the test processes (Node 20's off-thread module hooks, which
// TypeScript loaders use, can deadlock a process at start-up), and a type
// error fails the run. Node 20's runner finds no `.ts` files by itself and
// would report success having run nothing, so the list is built here from
// test/**/*.test.ts and an empty list fails.
//
//   npm test                       every test/**/*.test.ts
//   npm test -- test/pki           the files under one folder
//   npm test -- test/pki/ca.test.ts
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { ensureTestServices } from './test-services.mjs';

const root = resolve(import.meta.dirname, '..');

function collect(path) {
  if (!existsSync(path)) {
    process.stderr.write(`run-tests: ${relative(root, path)} does not exist\n`);
    process.exit(1);
  }
  if (statSync(path).isFile()) return path.endsWith('.test.ts') ? [path] : [];
  return readdirSync(path, { withFileTypes: true })
    .filter((e) => e.name !== 'node_modules' && !e.name.startsWith('.'))
    .flatMap((e) => collect(join(path, e.name)));
}

const args = process.argv.slice(2);
const roots = args.length > 0 ? args.map((a) => resolve(a)) : [join(root, 'test')];
const sources = roots.flatMap(collect).map((f) => relative(root, f)).sort();
if (sources.length === 0) {
  process.stderr.write(`run-tests: no *.test.ts files under ${roots.map((r) => relative(root, r)).join(', ')}\n`);
  process.exit(1);
}

ensureTestServices();
const compile = spawnSync(process.execPath, [join(root, 'scripts/compile.mjs'), '--all'], { cwd: root, stdio: 'inherit' });
if (compile.status !== 0) process.exit(compile.status ?? 1);

const files = sources.map((f) => join('dist', f.replace(/\.ts$/, '.js')));
const missing = files.filter((f) => !existsSync(join(root, f)));
if (missing.length > 0) {
  process.stderr.write(`run-tests: not compiled: ${missing.join(', ')}\n`);
  process.exit(1);
}
process.stdout.write(`run-tests: ${files.length} test files\n`);

// Most tests wait on sockets, fsync and child processes rather than the CPU,
// so a few files run side by side even on two cores.
const concurrency = process.env.FLEETHUB_TEST_CONCURRENCY ?? '3';
const child = spawn(
  process.execPath,
  ['--enable-source-maps', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=180000', ...files],
  { cwd: root, stdio: 'inherit' },
);
child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
