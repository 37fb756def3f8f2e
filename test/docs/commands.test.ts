/**
 * The documentation's shell commands work as written. The `sh` blocks of the
 * sections below are run in order, in one empty folder, through bash, with
 * `npx fleethub` running the compiled CLI: the README's tour first, then the
 * pages that build on it. Sections are found by their markers on whichever
 * page holds them.
 *
 * Run: `npx fleethub ca|device|token …` and `openssl …` lines (a variable
 * may take a command's output, `TOKEN=$(npx fleethub token create …)`).
 * Not run: the hub and the simulator (`npm start`, `fleethub serve`,
 * `fleethub sim`: long-running, tested in test/serve and test/sim), other
 * programs' clients, and a line whose comment starts `# or`, which shows
 * another way to do what the line before did.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findSection } from '../helpers/docs.js';
import { COMPILED_CLI } from '../helpers/paths.js';

/** In this order: later sections use what earlier ones made (the CA, the devices). */
const SECTIONS = ['quickstart', 'hub', 'pki', 'console', 'sim'] as const;

const RUN = /^(?:[A-Z_]+=\$\()?(?:npx fleethub (?:ca|device|token)\b|openssl )/;

interface Command {
  readonly at: string;
  readonly line: string;
}

/** The runnable lines of a section's `sh` blocks. */
function commandsOf(name: string): Command[] {
  const section = findSection(name);
  const found: Command[] = [];
  let inSh = false;
  section.text.split('\n').forEach((text, i) => {
    if (text.startsWith('```')) {
      inSh = !inSh && text.trim() === '```sh';
      return;
    }
    const line = text.trim();
    if (!inSh || !RUN.test(line) || /#\s*or\b/.test(line)) return;
    found.push({ at: `${section.file}:${section.line + 1 + i} (section:${name})`, line });
  });
  return found;
}

/** bash with `npx fleethub` bound to the compiled CLI; nothing else may go through npx. */
const PRELUDE = `set -euo pipefail
npx() { if [ "$1" = fleethub ]; then shift; node "$FLEETHUB_CLI" "$@"; else echo "npx $1 is not run here" >&2; return 127; fi; }
`;

function bash(line: string, cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, FLEETHUB_CLI: COMPILED_CLI };
    delete env['FLEETHUB_PKI'];
    execFile('bash', ['-c', PRELUDE + line], { cwd, env, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

test('the shell commands of the README tour and the docs pages run as written', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-docs-'));
  try {
    const commands = SECTIONS.flatMap(commandsOf);
    assert.ok(commands.length >= 10, `only ${commands.length} commands found: is the block reader broken?`);
    const outputs = new Map<string, string>();
    for (const { at, line } of commands) {
      const result = await bash(line, dir);
      assert.equal(result.code, 0, `${at}: \`${line}\` exited ${result.code}:\n${result.stderr}`);
      outputs.set(line, result.stdout);
    }
    // What the tour says the commands leave behind.
    for (const file of ['certs/ca.crt', 'certs/ca.key', 'certs/server.crt', 'certs/devices/greenhouse-01.crt', 'certs/token.key']) {
      assert.ok(existsSync(join(dir, file)), `the tour's commands made no ${file}`);
    }
    const crl = [...outputs].find(([line]) => line.startsWith('openssl crl'));
    assert.ok(crl !== undefined, 'the tour shows the CRL with openssl');
    assert.match(crl[1], /Key Compromise/, 'the revoked device is on the CRL with its reason');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
