/**
 * The hub benchmark's baselines: `FLEETHUB_BENCH_BASELINE=<git rev>[,<git rev>...]`
 * adds, for each revision, a server `hub@<rev>` beside the bare server and
 * today's hub in every scenario's alternation, so that "no slower than
 * before" is measured in the same rounds on the same machine rather than
 * across runs an hour apart. Each revision is checked out in a detached git
 * worktree of its own in the bench's temp folder, compiled as its own
 * `npm run bench` compiled (`node scripts/compile.mjs --all`), and run through
 * its own bench/hub.bench.ts in `server hub` mode: its hub with the config
 * its bench gave it. The worktrees are removed at the end, on failure and on
 * SIGINT/SIGTERM too.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, realpathSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

/** The environment variable naming the baselines. */
export const BASELINE_ENV = 'FLEETHUB_BENCH_BASELINE';

/** What a revision may be named by here: a git rev (`272003f^`, `main~3`, `v1.2`), never an option. */
const REV_PATTERN = /^[A-Za-z0-9_./^~@{}-]+$/;

/** The IPC messages this bench's client sends to or expects from a server child: a baseline's server must speak them. */
const SERVER_PROTOCOL = ["'server'", "'usage'", "'gc'", "'gc-done'", "'stop'", "'profile-start'", "'profiling'", "'profile-stop '", "'profiled'"];

/** How long one git or compile step of a baseline may take. */
const STEP_TIMEOUT_MS = 600_000;

/**
 * The revisions in `value` (comma-separated, blanks around names ignored);
 * none when unset or empty. Throws on an empty item, a name git could take
 * for an option or that has odd characters, and a revision named twice.
 */
export function parseBaselineRevs(value: string | undefined): string[] {
  if (value === undefined || value.trim() === '') return [];
  const revs = value.split(',').map((rev) => rev.trim());
  const seen = new Set<string>();
  for (const rev of revs) {
    if (rev === '') throw new Error(`${BASELINE_ENV}: an empty revision in "${value}"`);
    if (!REV_PATTERN.test(rev) || rev.startsWith('-')) throw new Error(`${BASELINE_ENV}: "${rev}" is not a git revision name`);
    if (seen.has(rev)) throw new Error(`${BASELINE_ENV}: "${rev}" is named twice`);
    seen.add(rev);
  }
  return revs;
}

/** The dependencies of a package.json (runtime and dev), by name. */
type Dependencies = Record<string, string>;

function dependenciesOf(packageJson: unknown): Dependencies {
  const pkg = packageJson as { dependencies?: Dependencies; devDependencies?: Dependencies };
  return { ...pkg.devDependencies, ...pkg.dependencies };
}

/**
 * Why `baseline`'s dependencies cannot run on `today`'s installed
 * node_modules: each one today's package.json does not ask for with the
 * same version range. None means the baseline may use today's node_modules.
 */
export function dependencyMismatches(baseline: unknown, today: unknown): string[] {
  const theirs = dependenciesOf(baseline);
  const ours = dependenciesOf(today);
  const out: string[] = [];
  for (const name of Object.keys(theirs).sort()) {
    if (ours[name] !== theirs[name]) out.push(`${name} ${theirs[name]} (installed here: ${ours[name] ?? 'none'})`);
  }
  return out;
}

/** A baseline ready to run. */
export interface Baseline {
  /** The revision as named in {@link BASELINE_ENV}. */
  rev: string;
  commit: string;
  /** `hub@<rev>`: its name in the report. */
  kind: string;
  /** Its worktree. */
  dir: string;
  /** Its compiled bench/hub.bench.js, run as `server hub`. */
  serverScript: string;
}

function run(command: string, args: readonly string[], cwd: string, what: string): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: STEP_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().slice(-4000);
    throw new Error(`${what} failed (${result.error?.message ?? `exit ${String(result.status ?? result.signal)}`})${output === '' ? '' : `:\n${output}`}`);
  }
  return result.stdout;
}

/**
 * Checks `rev` out of the repository at `repoRoot` into `dir` (a detached
 * worktree), gives it today's node_modules when its dependencies match,
 * compiles it, and checks that its bench's server mode speaks this bench's
 * protocol. On failure `dir` may be left half made: {@link removeBaseline} it.
 */
export function prepareBaseline(rev: string, repoRoot: string, dir: string): Baseline {
  const kind = `hub@${rev}`;
  const resolved = spawnSync('git', ['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], { cwd: repoRoot, encoding: 'utf8' });
  if (resolved.status !== 0) throw new Error(`${BASELINE_ENV}: no commit "${rev}" in ${repoRoot}`);
  const commit = resolved.stdout.trim();
  run('git', ['worktree', 'add', '--detach', dir, commit], repoRoot, `${kind}: git worktree add`);
  const theirs = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  const mismatches = dependencyMismatches(theirs, JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')));
  if (mismatches.length > 0) {
    throw new Error(`${kind}: its dependencies differ from the installed ones, so it cannot share node_modules: ${mismatches.join(', ')}`);
  }
  symlinkSync(realpathSync(join(repoRoot, 'node_modules')), join(dir, 'node_modules'));
  // Its `npm run bench` ran scripts/run-bench.mjs, which compiles with `scripts/compile.mjs --all` (tsc -p tsconfig.json).
  const runBench = join(dir, 'scripts', 'run-bench.mjs');
  const compiles = theirs.scripts?.bench === 'node scripts/run-bench.mjs' && existsSync(runBench)
    && /compile\.mjs'\), '--all'/.test(readFileSync(runBench, 'utf8')) && existsSync(join(dir, 'scripts', 'compile.mjs'));
  if (!compiles) throw new Error(`${kind}: its npm run bench does not compile with scripts/compile.mjs --all (a revision before benchmarks ran compiled is not supported)`);
  run(process.execPath, [join(dir, 'scripts', 'compile.mjs'), '--all'], dir, `${kind}: node scripts/compile.mjs --all`);
  const serverScript = join(dir, 'dist', 'bench', 'hub.bench.js');
  if (!existsSync(serverScript)) throw new Error(`${kind}: it has no bench/hub.bench.ts`);
  const source = readFileSync(serverScript, 'utf8');
  const missing = SERVER_PROTOCOL.filter((word) => !source.includes(word));
  if (missing.length > 0) throw new Error(`${kind}: its bench/hub.bench.ts server mode does not speak this bench's protocol (no ${missing.join(', ')})`);
  return { rev, commit, kind, dir, serverScript };
}

/** Removes a baseline's worktree (its node_modules link first, so nothing follows it into the shared one); warns instead of throwing. */
export function removeBaseline(repoRoot: string, dir: string): void {
  try {
    const link = join(dir, 'node_modules');
    if (lstatSync(link, { throwIfNoEntry: false })?.isSymbolicLink() === true) unlinkSync(link);
    if (!existsSync(dir)) return;
    const removed = spawnSync('git', ['worktree', 'remove', '--force', dir], { cwd: repoRoot, encoding: 'utf8' });
    if (removed.status !== 0) {
      rmSync(dir, { recursive: true, force: true });
      process.stderr.write(`baseline: git worktree remove ${dir} failed (${removed.stderr.trim()}); deleted the folder (git worktree prune forgets it)\n`);
    }
  } catch (err) {
    process.stderr.write(`baseline: could not remove ${dir}: ${err instanceof Error ? err.message : String(err)}\n`);
  }
}

/** Every leaf of a config object by its dotted key, as JSON (Maps and Sets as objects and arrays). */
export function flattenConfig(value: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  const plain = value instanceof Map ? Object.fromEntries(value) : value instanceof Set ? [...value] : value;
  if (plain !== null && typeof plain === 'object' && !Array.isArray(plain) && Object.keys(plain).length > 0) {
    for (const [key, inner] of Object.entries(plain)) flattenConfig(inner, prefix === '' ? key : `${prefix}.${key}`, out);
  } else {
    out.set(prefix, JSON.stringify(plain) ?? 'undefined');
  }
  return out;
}

/** How two resolved configs differ: keys whose values differ, keys only one of them has. */
export interface ConfigComparison { differ: string[]; onlyToday: string[]; onlyBaseline: string[] }

/** Compares two configs flattened by {@link flattenConfig}. */
export function compareConfigs(today: ReadonlyMap<string, string>, baseline: ReadonlyMap<string, string>): ConfigComparison {
  return {
    differ: [...today].filter(([key, value]) => baseline.has(key) && baseline.get(key) !== value).map(([key, value]) => `${key}: ${baseline.get(key)!} then, ${value} today`),
    onlyToday: [...today.keys()].filter((key) => !baseline.has(key)),
    onlyBaseline: [...baseline.keys()].filter((key) => !today.has(key)),
  };
}

/** Prints a baseline's resolved hub config: its test helper's testHubConfig with `overrides` (crlCheckMs from its own default, as its bench did). */
const PRINT_CONFIG = `
const { pathToFileURL } = require('node:url');
const [root, overrides] = process.argv.slice(1);
const load = (path) => import(pathToFileURL(root + path).href);
Promise.all([load('/dist/test/helpers/hub.js'), load('/dist/src/hub/config.js')]).then(([helpers, config]) => {
  const given = JSON.parse(overrides);
  if (typeof config.DEFAULT_CRL_CHECK_MS === 'number') given.device.crlCheckMs = config.DEFAULT_CRL_CHECK_MS;
  const plain = (key, value) => value instanceof Map ? Object.fromEntries(value) : value instanceof Set ? [...value] : value;
  process.stdout.write(JSON.stringify(helpers.testHubConfig('/pki', '/data', given), plain));
});
`;

/** `baseline`'s hub config for the bench's `overrides`, resolved by its own code, compared with `today` (resolved by today's). */
export function compareBaselineConfig(baseline: Baseline, overrides: unknown, today: unknown): ConfigComparison {
  const printed = run(process.execPath, ['-e', PRINT_CONFIG, baseline.dir, JSON.stringify(overrides)], baseline.dir, `${baseline.kind}: resolving its hub config`);
  return compareConfigs(flattenConfig(JSON.parse(JSON.stringify(today, (_key, value: unknown) => flattenable(value)))), flattenConfig(JSON.parse(printed)));
}

function flattenable(value: unknown): unknown {
  return value instanceof Map ? Object.fromEntries(value) : value instanceof Set ? [...value] : value;
}
