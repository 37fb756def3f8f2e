#!/usr/bin/env node
// Runs the benchmarks one after another (they share two cores, so never in
// parallel), compiled like the product runs. Each bench/*.bench.ts prints its
// own table and writes JSON to bench/results/<name>.json; docs/benchmarks.md
// quotes those figures.
//
//   npm run bench                  every bench/*.bench.ts
//   npm run bench -- pki hub       only bench/pki.bench.ts and bench/hub.bench.ts
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const benchDir = join(root, 'bench');
mkdirSync(join(benchDir, 'results'), { recursive: true });

const wanted = process.argv.slice(2);
const all = readdirSync(benchDir).filter((f) => f.endsWith('.bench.ts')).sort();
const files = wanted.length > 0 ? all.filter((f) => wanted.includes(f.replace(/\.bench\.ts$/, ''))) : all;
if (files.length === 0) {
  process.stderr.write(`run-bench: no benchmark matches ${wanted.join(' ') || '(any)'}; have: ${all.join(', ')}\n`);
  process.exit(1);
}
const compile = spawnSync(process.execPath, [join(root, 'scripts/compile.mjs'), '--all'], { cwd: root, stdio: 'inherit' });
if (compile.status !== 0) process.exit(compile.status ?? 1);

let failed = 0;
for (const file of files) {
  process.stdout.write(`\n=== ${file} ===\n`);
  const compiled = join(root, 'dist/bench', file.replace(/\.ts$/, '.js'));
  const run = spawnSync(process.execPath, ['--enable-source-maps', compiled], { cwd: root, stdio: 'inherit' });
  if (run.status !== 0) failed += 1;
}
process.exit(failed > 0 ? 1 : 0);
