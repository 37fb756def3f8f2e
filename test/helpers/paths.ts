/**
 * Where things are, whether a test runs from `test/` or compiled in
 * `dist/test/`: paths are found from the repository root (the folder with
 * package.json), never by counting `..` from the test file.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'scripts', 'run-tests.mjs'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no repository root above ${from}`);
  }
}

/** The repository root. */
export const REPO_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

/** The compiled CLI (`npm test` compiles everything before running). */
export const COMPILED_CLI = join(REPO_ROOT, 'dist', 'src', 'cli.js');
