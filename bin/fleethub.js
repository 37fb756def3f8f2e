#!/usr/bin/env node
// The published entry point runs the compiled CLI (built by `npm run build`,
// which `npm install` runs through the `prepare` script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const compiled = new URL('../dist/src/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(compiled))) {
  process.stderr.write('fleethub: not built yet; run `npm run build` (npm install does it)\n');
  process.exit(70);
}
await import(compiled.href);
