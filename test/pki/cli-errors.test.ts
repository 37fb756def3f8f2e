/**
 * Every bad input of the `ca` and `device` commands, through the real CLI in
 * a child process: one line on stderr, no stack trace, the documented exit
 * code, and nothing changed on disk. Also: every --help shows an example,
 * and the PKI folder comes from --pki, FLEETHUB_PKI or ./certs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { EXIT } from '../../src/errors.js';
import { addDevice, initCa, issueServerCert, revokeDevice } from '../../src/pki/index.js';

/** Every file under `dir` (hidden ones too) with a hash of its content. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const path = join(e.parentPath, e.name);
    out.push(e.isFile() ? `${path} ${createHash('sha256').update(await readFile(path)).digest('hex')}` : path);
  }
  return out.sort();
}

test('bad inputs: one line, documented exit code, nothing changed', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'fleethub-cli-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const pki = join(work, 'certs');
  await initCa(pki);
  await issueServerCert(pki, { hosts: ['localhost'] });
  await addDevice(pki, 'dev-1');
  await addDevice(pki, 'dev-2');
  await revokeDevice(pki, 'dev-2');
  await addDevice(pki, 'P0002');
  const empty = join(work, 'empty');
  const aFile = join(work, 'a-file');
  await writeFile(aFile, 'not a folder');

  // The issue's list of bad inputs, through the real CLI.
  const cases: Array<[string, string[], number]> = [
    ['id with a path', ['device', 'add', '../x', '--pki', pki], EXIT.INVALID_INPUT],
    ['id with a space', ['device', 'add', 'a b', '--pki', pki], EXIT.INVALID_INPUT],
    ['id of 65 characters', ['device', 'add', 'a'.repeat(65), '--pki', pki], EXIT.INVALID_INPUT],
    ['empty id', ['device', 'add', '', '--pki', pki], EXIT.INVALID_INPUT],
    ['id with a leading dot', ['device', 'add', '.hidden', '--pki', pki], EXIT.INVALID_INPUT],
    ['unknown device on revoke', ['device', 'revoke', 'nope', '--pki', pki], EXIT.NOT_FOUND],
    ['unknown device on export', ['device', 'export', 'nope', '--format', 'pem', '--pki', pki], EXIT.NOT_FOUND],
    ['revoked twice', ['device', 'revoke', 'dev-2', '--pki', pki], EXIT.CONFLICT],
    ['active device added again', ['device', 'add', 'dev-1', '--pki', pki], EXIT.CONFLICT],
    ['batch over an active id', ['device', 'add', '--count', '2', '--prefix', 'P', '--pki', pki], EXIT.CONFLICT],
    ['CA already there', ['ca', 'init', '--pki', pki], EXIT.CONFLICT],
    ['CA missing', ['device', 'add', 'dev-9', '--pki', empty], EXIT.NOT_FOUND],
    ['--count 0', ['device', 'add', '--count', '0', '--prefix', 'p', '--pki', pki], EXIT.USAGE],
    ['--days -1', ['device', 'add', 'dev-9', '--days', '-1', '--pki', pki], EXIT.USAGE],
    ['unknown key type', ['device', 'add', 'dev-9', '--key-type', 'dsa', '--pki', pki], EXIT.USAGE],
    ['bad export format', ['device', 'export', 'dev-1', '--format', 'der', '--pki', pki], EXIT.USAGE],
    ['unwritable --pki (under a file)', ['ca', 'init', '--pki', join(aFile, 'certs')], EXIT.FILESYSTEM],
    ['unwritable --pki (/proc)', ['ca', 'init', '--pki', '/proc/fleethub-nope'], EXIT.FILESYSTEM],
  ];
  const before = await snapshot(work);
  // Two at a time: each is a node + tsx start-up, mostly waiting on the CPU of a shared machine.
  for (let i = 0; i < cases.length; i += 2) {
    await Promise.all(cases.slice(i, i + 2).map(async ([what, args, code]) => {
      const res = await runCli(args, { cwd: work, env: { FLEETHUB_PKI: undefined } });
      assert.equal(res.code, code, `${what}: exit ${res.code}, stderr ${res.stderr}`);
      assert.match(res.stderr, /^fleethub: [^\n]+\n$/, `${what}: one line on stderr, got ${JSON.stringify(res.stderr)}`);
      assert.doesNotMatch(res.stderr, /\n\s+at /, `${what}: no stack`);
    }));
  }
  assert.deepEqual(await snapshot(work), before);
});

test('every ca/device command documents a working example in --help', async () => {
  const commands = [['ca', 'init'], ['ca', 'server-cert'], ['ca', 'crl'], ['device', 'add'], ['device', 'list'], ['device', 'revoke'], ['device', 'export']];
  await Promise.all(commands.map(async (cmd) => {
    const res = await runCli([...cmd, '--help']);
    assert.equal(res.code, 0);
    assert.match(res.stdout, new RegExp(`Examples:\\n  \\$ fleethub ${cmd.join(' ')}\\b`), cmd.join(' '));
    assert.match(res.stdout, /--pki <dir>/);
  }));
});

test('the PKI folder: --pki, else FLEETHUB_PKI, else ./certs', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'fleethub-cli-dir-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const byDefault = await runCli(['ca', 'init'], { cwd: work, env: { FLEETHUB_PKI: undefined } });
  assert.equal(byDefault.code, 0, byDefault.stderr);
  assert.ok((await readdir(join(work, 'certs'))).includes('ca.key'));
  const byEnv = await runCli(['ca', 'init'], { cwd: work, env: { FLEETHUB_PKI: join(work, 'env-pki') } });
  assert.equal(byEnv.code, 0, byEnv.stderr);
  assert.ok((await readdir(join(work, 'env-pki'))).includes('ca.crt'));
  const byFlag = await runCli(['device', 'add', 'dev-1', '--pki', join(work, 'env-pki')], { cwd: work, env: { FLEETHUB_PKI: join(work, 'certs') } });
  assert.equal(byFlag.code, 0, byFlag.stderr);
  assert.ok((await readdir(join(work, 'env-pki', 'devices'))).includes('dev-1.crt'));
  const list = await runCli(['device', 'list', '--json'], { cwd: work, env: { FLEETHUB_PKI: join(work, 'env-pki') } });
  assert.equal(list.code, 0, list.stderr);
  const records = JSON.parse(list.stdout) as Array<{ id: string; status: string }>;
  assert.deepEqual(records.map((r) => [r.id, r.status]), [['dev-1', 'active']]);
});
