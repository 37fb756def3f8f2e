/** `fleethub token create` as a user runs it: a child process of the real CLI. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI_ARGS } from '../helpers/cli.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { verifyToken } from '../../src/hub/console/dashboard-token.js';
import { loadOrCreateTokenKey } from '../../src/hub/console/token-key-file.js';

const ROOT = REPO_ROOT;

function fleethub(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [...CLI_ARGS, ...args], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      done({ code, stdout, stderr });
    });
  });
}

describe('fleethub token create', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleethub-token-cli-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('prints only the token, creating token.key (0600) on first use', async () => {
    const { code, stdout, stderr } = await fleethub(['token', 'create', '--devices', 'site-a-*', '--ttl', '30m', '--pki', dir]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^fh1\.[\w-]+\.[\w-]+\n$/);
    assert.equal((await stat(join(dir, 'token.key'))).mode & 0o777, 0o600);
    const claims = verifyToken(loadOrCreateTokenKey(dir), stdout.trim());
    assert.equal(claims.devices, 'site-a-*');
    assert.ok(Math.abs(claims.expiresAt - Date.now() - 30 * 60_000) < 60_000);
  });

  it('--scope gives the token its scopes (read by default); an unknown scope is a usage error', async () => {
    const plain = await fleethub(['token', 'create', '--devices', '*', '--pki', dir]);
    assert.deepEqual(verifyToken(loadOrCreateTokenKey(dir), plain.stdout.trim()).scopes, ['read']);
    const scoped = await fleethub(['token', 'create', '--devices', 'pump-*', '--scope', 'read,command,config', '--pki', dir]);
    assert.equal(scoped.code, 0, scoped.stderr);
    assert.deepEqual(verifyToken(loadOrCreateTokenKey(dir), scoped.stdout.trim()).scopes, ['read', 'command', 'config']);
    const bad = await fleethub(['token', 'create', '--devices', '*', '--scope', 'admin', '--pki', dir]);
    assert.equal(bad.code, 2);
    assert.equal(bad.stdout, '');
  });

  it('reads the PKI folder from FLEETHUB_PKI and defaults --ttl to 1h', async () => {
    const { code, stdout } = await fleethub(['token', 'create', '--devices', '*'], { FLEETHUB_PKI: dir });
    assert.equal(code, 0);
    const claims = verifyToken(loadOrCreateTokenKey(dir), stdout.trim());
    assert.ok(Math.abs(claims.expiresAt - Date.now() - 3_600_000) < 60_000);
  });

  it('fails with one line and a non-zero exit on a bad --ttl, glob or PKI folder', async () => {
    const cases = [
      ['--devices', '*', '--ttl', '90d', '--pki', dir],
      ['--devices', 'a b', '--pki', dir],
      ['--devices', '*', '--pki', join(dir, 'missing')],
    ];
    const results = await Promise.all(cases.map((args) => fleethub(['token', 'create', ...args])));
    for (const [i, { code, stdout, stderr }] of results.entries()) {
      assert.notEqual(code, 0, cases[i]?.join(' '));
      assert.equal(stdout, '');
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
      assert.doesNotMatch(stderr, /\n\s+at /);
    }
  });

  it('shows a working example in --help', async () => {
    const { code, stdout } = await fleethub(['token', 'create', '--help']);
    assert.equal(code, 0);
    assert.match(stdout, /fleethub token create --devices/);
  });
});
