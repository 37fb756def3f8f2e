/**
 * `device export --format esp32`: the header compiles with the real `gcc`,
 * and the strings it holds are byte-identical to the issued PEM files (a
 * small C program prints them back). Also `--format pem --out`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runCli } from '../helpers/cli.js';
import { EXIT } from '../../src/errors.js';
import { addDevice, esp32Symbol, exportEsp32Header, initCa, pkiPaths } from '../../src/pki/index.js';

const run = promisify(execFile);

test('esp32 header: compiles, strings identical to the files', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'fleethub-esp32-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const pki = join(work, 'certs');
  const paths = pkiPaths(pki);
  await initCa(pki);
  await addDevice(pki, 'kitchen.sensor-1');
  const header = join(work, 'fleethub_credentials.h');
  const res = await runCli(['device', 'export', 'kitchen.sensor-1', '--format', 'esp32', '--out', header, '--pki', pki]);
  assert.equal(res.code, 0, res.stderr);
  assert.equal((await stat(header)).mode & 0o777, 0o600, 'the header holds the private key');
  const text = await readFile(header, 'utf8');
  assert.match(text, /#ifndef FLEETHUB_KITCHEN_SENSOR_1_CREDENTIALS_H/);
  assert.match(text, /esp_websocket_client_config_t/);
  assert.match(text, /\.cert_pem = FLEETHUB_KITCHEN_SENSOR_1_CA_CERT/);
  assert.match(text, /\.client_cert = /);
  assert.match(text, /\.client_key = /);
  assert.match(text, /setCACert\(/);
  assert.match(text, /setCertificate\(/);
  assert.match(text, /setPrivateKey\(/);

  const sym = esp32Symbol('kitchen.sensor-1');
  const program = join(work, 'dump.c');
  // Included twice: the include guard must hold. Each string is written raw, then a 0 byte separator.
  await writeFile(program, `#include <stdio.h>
#include "fleethub_credentials.h"
#include "fleethub_credentials.h"
int main(void) {
  fputs(${sym}_CA_CERT, stdout); fputc(0, stdout);
  fputs(${sym}_CLIENT_CERT, stdout); fputc(0, stdout);
  fputs(${sym}_CLIENT_KEY, stdout); fputc(0, stdout);
  return 0;
}
`);
  await run('gcc', ['-std=c99', '-Wall', '-Wextra', '-Werror', '-c', program, '-o', join(work, 'dump.o')], { cwd: work });
  await run('gcc', [join(work, 'dump.o'), '-o', join(work, 'dump')], { cwd: work });
  const { stdout } = await run(join(work, 'dump'), [], { encoding: 'buffer' });
  const [ca, cert, key] = stdout.toString('latin1').split('\0');
  assert.equal(ca, await readFile(paths.caCert, 'latin1'));
  assert.equal(cert, await readFile(paths.deviceCert('kitchen.sensor-1'), 'latin1'));
  assert.equal(key, await readFile(paths.deviceKey('kitchen.sensor-1'), 'latin1'));

  const again = await runCli(['device', 'export', 'kitchen.sensor-1', '--format', 'esp32', '--out', header, '--pki', pki]);
  assert.equal(again.code, EXIT.CONFLICT, 'refuses to overwrite without --force');
  const forced = await runCli(['device', 'export', 'kitchen.sensor-1', '--format', 'esp32', '--out', header, '--force', '--pki', pki]);
  assert.equal(forced.code, 0, forced.stderr);
});

test('pem export: the three files, key 0600', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'fleethub-pem-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const pki = join(work, 'certs');
  const paths = pkiPaths(pki);
  await initCa(pki);
  await addDevice(pki, 'dev-1');
  const out = join(work, 'out', 'dev-1');
  const res = await runCli(['device', 'export', 'dev-1', '--format', 'pem', '--out', out, '--pki', pki]);
  assert.equal(res.code, 0, res.stderr);
  assert.equal(await readFile(join(out, 'ca.crt'), 'utf8'), await readFile(paths.caCert, 'utf8'));
  assert.equal(await readFile(join(out, 'dev-1.crt'), 'utf8'), await readFile(paths.deviceCert('dev-1'), 'utf8'));
  assert.equal(await readFile(join(out, 'dev-1.key'), 'utf8'), await readFile(paths.deviceKey('dev-1'), 'utf8'));
  assert.equal((await stat(join(out, 'dev-1.key'))).mode & 0o777, 0o600);
});

test('exportEsp32Header is pure and says where the key is when there is none (CSR devices)', () => {
  const text = exportEsp32Header({ id: '9lives', caCertPem: 'A\nB\n', certPem: 'C\n' });
  assert.match(text, /static const char FLEETHUB_9LIVES_CA_CERT\[\] =\n {4}"A\\n"\n {4}"B\\n";/);
  assert.doesNotMatch(text, /CLIENT_KEY\[\]/);
  assert.match(text, /never left the device/);
});
