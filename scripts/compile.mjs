#!/usr/bin/env node
// Compiles with tsc and copies the files tsc does not emit (the dashboard
// page: plain browser HTML, CSS and JS) next to the compiled modules.
//
//   node scripts/compile.mjs              src and firmware-sim (npm run build)
//   node scripts/compile.mjs --all        also test and bench (npm test, npm run bench)
import { spawnSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const project = process.argv.includes('--all') ? 'tsconfig.json' : 'tsconfig.build.json';
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const run = spawnSync(process.execPath, [tsc, '-p', join(root, project)], { cwd: root, stdio: 'inherit' });
if (run.status !== 0) {
  process.stderr.write(`compile: tsc -p ${project} failed\n`);
  process.exit(run.status ?? 1);
}
cpSync(join(root, 'src/hub/console/page'), join(root, 'dist/src/hub/console/page'), { recursive: true });
