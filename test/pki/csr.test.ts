/**
 * `device add --csr` with requests made by the real `openssl req`: the
 * signature is verified (both key types), the CN is the id, requested
 * extensions are ignored, and no private key is written anywhere.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runCli } from '../helpers/cli.js';
import { EXIT } from '../../src/errors.js';
import { initCa, pkiPaths, readInventory } from '../../src/pki/index.js';
import { verifyCsr } from '../../src/pki/csr.js';
import { derToPem, pemToDer } from '../../src/pki/der-reader.js';

const run = promisify(execFile);

async function opensslCsr(dir: string, name: string, keyArgs: string[], subject: string, extra: string[] = []): Promise<string> {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  await run('openssl', ['req', '-new', '-newkey', ...keyArgs, '-nodes', '-keyout', key, '-out', csr, '-subj', subject, ...extra]);
  return csr;
}

/** The CSR's DER with `from` replaced by `to` (same length). */
function tamperDer(pem: string, from: string, to: string): Buffer {
  const der = pemToDer(pem, 'CERTIFICATE REQUEST') as Buffer;
  const at = der.indexOf(from);
  assert.ok(at > 0);
  der.write(to, at, 'latin1');
  return der;
}

test('device add --csr', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'fleethub-csr-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const pki = join(work, 'certs');
  await initCa(pki);
  const paths = pkiPaths(pki);
  const ecCsr = await opensslCsr(work, 'ec', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], '/CN=esp-ec-1', [
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'extendedKeyUsage=serverAuth,clientAuth',
  ]);
  const rsaCsr = await opensslCsr(work, 'rsa', ['rsa:2048'], '/O=Acme/CN=esp-rsa-1');

  await t.test('an EC CSR: certificate for its CN and key, requested extensions ignored, no key written', async () => {
    const res = await runCli(['device', 'add', '--csr', ecCsr, '--pki', pki]);
    assert.equal(res.code, 0, res.stderr);
    const cert = new X509Certificate(await readFile(paths.deviceCert('esp-ec-1')));
    assert.equal(cert.subject, 'CN=esp-ec-1');
    assert.equal(cert.ca, false);
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
    assert.ok(cert.checkPrivateKey(createPrivateKey(await readFile(join(work, 'ec.key')))));
    assert.equal(existsSync(paths.deviceKey('esp-ec-1')), false);
    const rec = (await readInventory(pki)).find((d) => d.id === 'esp-ec-1');
    assert.equal(rec?.hasKey, false);
    assert.equal(rec?.keyType, 'ec');
  });

  await t.test('an RSA CSR with the id given too', async () => {
    const res = await runCli(['device', 'add', 'esp-rsa-1', '--csr', rsaCsr, '--pki', pki]);
    assert.equal(res.code, 0, res.stderr);
    const cert = new X509Certificate(await readFile(paths.deviceCert('esp-rsa-1')));
    assert.equal(cert.subject, 'CN=esp-rsa-1'); // the CA decides the subject: the requested O is dropped
    assert.ok(cert.checkPrivateKey(createPrivateKey(await readFile(join(work, 'rsa.key')))));
    assert.equal(existsSync(paths.deviceKey('esp-rsa-1')), false);
  });

  await t.test('refusals change nothing on disk', async () => {
    // Tampered: the subject CN rewritten in the DER (esp-ec-1 → esp-ec-9), the signature left as it was.
    const tamperedPath = join(work, 'tampered.csr');
    await writeFile(tamperedPath, derToPem(tamperDer(await readFile(ecCsr, 'utf8'), 'esp-ec-1', 'esp-ec-9'), 'CERTIFICATE REQUEST'));
    const badCn = await opensslCsr(work, 'badcn', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], '/CN=..\\/etc');
    const noCn = await opensslCsr(work, 'nocn', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], '/O=Acme');
    const garbage = join(work, 'garbage.csr');
    await writeFile(garbage, '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n');
    const before = (await readdir(paths.devicesDir)).sort();
    const inventoryBefore = await readFile(paths.inventory, 'utf8');
    const cases: Array<[string[], number]> = [
      [['device', 'add', '--csr', tamperedPath], EXIT.INVALID_INPUT],
      [['device', 'add', '--csr', badCn], EXIT.INVALID_INPUT],
      [['device', 'add', '--csr', noCn], EXIT.INVALID_INPUT],
      [['device', 'add', '--csr', garbage], EXIT.INVALID_INPUT],
      [['device', 'add', '--csr', join(work, 'missing.csr')], EXIT.INVALID_INPUT],
      [['device', 'add', 'other-id', '--csr', rsaCsr], EXIT.INVALID_INPUT],
      [['device', 'add', '--csr', rsaCsr, '--key-type', 'rsa'], EXIT.USAGE],
    ];
    for (const [args, code] of cases) {
      const res = await runCli([...args, '--pki', pki]);
      assert.equal(res.code, code, `${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, /^fleethub: [^\n]+\n$/, `${args.join(' ')}: one line`);
    }
    assert.deepEqual((await readdir(paths.devicesDir)).sort(), before);
    assert.equal(await readFile(paths.inventory, 'utf8'), inventoryBefore);
  });

  await t.test('verifyCsr: a changed subject or a flipped signature bit does not verify (pure)', async () => {
    const pem = await readFile(ecCsr, 'utf8');
    assert.equal(verifyCsr(pem).commonName, 'esp-ec-1');
    const renamed = derToPem(tamperDer(pem, 'esp-ec-1', 'esp-ec-9'), 'CERTIFICATE REQUEST');
    assert.throws(() => verifyCsr(renamed), { code: 'FH_ERR_CSR_INVALID', message: /signature does not verify/ });
    for (const csrPath of [ecCsr, rsaCsr]) {
      const der = pemToDer(await readFile(csrPath, 'utf8'), 'CERTIFICATE REQUEST') as Buffer;
      der[der.length - 2] = (der[der.length - 2] ?? 0) ^ 0x01; // inside the signature value
      assert.throws(() => verifyCsr(derToPem(der, 'CERTIFICATE REQUEST')), { code: 'FH_ERR_CSR_INVALID' });
    }
    assert.throws(() => verifyCsr('not a csr'), { code: 'FH_ERR_CSR_INVALID' });
  });
});
