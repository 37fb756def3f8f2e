/**
 * The published package, as a user installs it: `npm pack` the repository,
 * unpack the tarball into a fresh folder's node_modules and import it from
 * there. Only the curated entry points may load; the files a published
 * package needs are in the tarball and nothing else is (no tests, no keys).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT } from '../helpers/paths.js';

interface PackedFile {
  readonly path: string;
}

interface PackResult {
  readonly filename: string;
  readonly files: readonly PackedFile[];
}

/** Runs a command to completion; fails the test with its output when it does not exit 0. */
function run(command: string, args: readonly string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  assert.equal(result.status, 0, `${command} ${args.join(' ')} exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

// What a program in the user's folder sees when it imports the package.
const PROBE = `
const outcome = async (specifier) => {
  try {
    const options = specifier.endsWith('.json') ? { with: { type: 'json' } } : undefined;
    return { ok: Object.keys(await import(specifier, options)).sort() };
  } catch (err) {
    return { code: err.code ?? String(err) };
  }
};
const specifiers = ['fleethub', 'fleethub/sim', 'fleethub/package.json', 'fleethub/dist/src/hub/device-listener.js', 'fleethub/dist/src/index.js', 'fleethub/src/index.ts'];
const result = {};
for (const s of specifiers) result[s] = await outcome(s);
process.stdout.write(JSON.stringify(result));
`;

describe('the published package', () => {
  let dir: string;
  let packed: PackResult;
  let imports: Record<string, { ok?: string[]; code?: string }>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleethub-package-'));
    // --ignore-scripts: `npm test` has compiled dist already; prepare would rebuild it under the running tests.
    const json = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], REPO_ROOT);
    const [result] = JSON.parse(json) as PackResult[];
    assert.ok(result, `npm pack printed no result: ${json}`);
    packed = result;
    const installed = join(dir, 'node_modules', 'fleethub');
    await mkdir(installed, { recursive: true });
    run('tar', ['-xzf', join(dir, packed.filename), '-C', installed, '--strip-components=1'], dir);
    // The package's own dependencies, as npm would have installed them.
    await symlink(join(REPO_ROOT, 'node_modules'), join(installed, 'node_modules'), 'dir');
    await writeFile(join(dir, 'probe.mjs'), PROBE);
    imports = JSON.parse(run(process.execPath, ['probe.mjs'], dir)) as typeof imports;
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('imports the library by its name and the simulator as fleethub/sim', () => {
    assert.ok(imports['fleethub']?.ok?.includes('createHub'), JSON.stringify(imports['fleethub']));
    assert.ok(imports['fleethub']?.ok?.includes('createBridge'), JSON.stringify(imports['fleethub']));
    assert.ok(imports['fleethub/sim']?.ok?.includes('runSim'), JSON.stringify(imports['fleethub/sim']));
    assert.ok(imports['fleethub/package.json']?.ok, JSON.stringify(imports['fleethub/package.json']));
  });

  it('refuses deep imports of internal modules', () => {
    for (const deep of ['fleethub/dist/src/hub/device-listener.js', 'fleethub/dist/src/index.js', 'fleethub/src/index.ts']) {
      assert.deepEqual(imports[deep], { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' }, deep);
    }
  });

  it('ships the compiled library, its types, the CLI, the dashboard page and the docs, and nothing else', () => {
    const paths = packed.files.map((f) => f.path);
    for (const needed of [
      'package.json', 'README.md', 'bin/fleethub.js', 'dist/src/cli.js', 'dist/src/index.js', 'dist/src/index.d.ts',
      'dist/firmware-sim/index.js', 'dist/firmware-sim/index.d.ts', 'dist/src/hub/console/page/index.html', 'docs/devices.md',
    ]) assert.ok(paths.includes(needed), `${needed} is missing from the package`);
    const stray = paths.filter((p) => !/^(package\.json|README\.md|bin\/[^/]+\.js|dist\/(src|firmware-sim)\/.+\.(js|d\.ts|html|css|svg)|docs\/[^/]+\.(md|png))$/.test(p));
    assert.deepEqual(stray, [], 'files a published package does not need');
  });

  it('runs the CLI from the installed package', async () => {
    const { version } = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(run(process.execPath, [join(dir, 'node_modules', 'fleethub', 'bin', 'fleethub.js'), '--version'], dir).trim(), version);
  });
});
