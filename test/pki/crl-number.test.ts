/**
 * The CRL number (RFC 5280 §5.2.3) strictly increases across every CRL the CA
 * writes (`ca init`, `ca crl`, `device revoke`, `device add --force`), also
 * when an older `crl.pem` is put back or `crl.pem` is unreadable: the
 * inventory records the highest number used, and the next CRL goes above
 * both it and the number in `crl.pem`. Every step below is a separate call
 * that reads the folder afresh, as separate CLI runs do.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { addDevice, parseCrl, pkiPaths, revokeDevice, writeCrl } from '../../src/pki/index.js';
import { loadInventory } from '../../src/pki/inventory.js';
import { nextCrlNumber } from '../../src/pki/revocation.js';
import { FleethubError } from '../../src/errors.js';
import { makeTestPki } from '../helpers/pki.js';
import { runCli } from '../helpers/cli.js';

async function crlNumberIn(dir: string): Promise<number | null> {
  return parseCrl(await readFile(pkiPaths(dir).crl, 'utf8')).number;
}

test('nextCrlNumber: above the recorded number and the number in crl.pem, whichever is higher', () => {
  assert.equal(nextCrlNumber(0, null), 1);
  assert.equal(nextCrlNumber(0, 7), 8); // a PKI made before the inventory recorded numbers
  assert.equal(nextCrlNumber(9, 3), 10); // an older crl.pem put back
  assert.equal(nextCrlNumber(9, null), 10); // crl.pem missing or unreadable
  assert.equal(nextCrlNumber(4, 6), 7);
});

test('every CRL the CA writes has a higher number than all before it, whatever crl.pem holds', async () => {
  const pki = await makeTestPki();
  const paths = pkiPaths(pki.dir);
  const seen: number[] = [];
  const record = async (): Promise<void> => {
    const number = await crlNumberIn(pki.dir);
    assert.ok(number !== null, 'the CA writes a CRL number');
    seen.push(number);
  };
  try {
    await record(); // ca init
    await writeCrl(pki.dir);
    await record();
    const old = `${pki.dir}/crl-before-revoke.pem`;
    await copyFile(paths.crl, old);
    await pki.addDevice('num-a');
    await pki.revoke('num-a');
    await record();
    // An older crl.pem is put back: the next CRL must not reuse the revoke's number.
    await copyFile(old, paths.crl);
    await writeCrl(pki.dir);
    await record();
    await copyFile(old, paths.crl);
    await pki.addDevice('num-b');
    await revokeDevice(pki.dir, 'num-b');
    await record();
    // Re-issuing an active id revokes the old certificate and re-signs the CRL too.
    await pki.addDevice('num-c');
    await copyFile(old, paths.crl);
    await addDevice(pki.dir, 'num-c', { force: true });
    await record();
    // An unreadable crl.pem: numbering goes on from the inventory, it does not start over.
    await writeFile(paths.crl, 'not a CRL\n');
    await writeCrl(pki.dir);
    await record();
    // The command a user runs.
    await copyFile(old, paths.crl);
    const res = await runCli(['ca', 'crl', '--pki', pki.dir]);
    assert.equal(res.code, 0, res.stderr);
    await record();
    assert.match(res.stdout, new RegExp(`CRL #${seen.at(-1)},`));

    for (let i = 1; i < seen.length; i += 1) {
      assert.ok((seen[i] as number) > (seen[i - 1] as number), `CRL numbers in the order written: ${seen.join(', ')}`);
    }
    assert.equal((await loadInventory(pki.dir)).crlNumber, seen.at(-1), 'the inventory records the last number used');
  } finally {
    await pki.cleanup();
  }
});

test('an inventory without crlNumber (made before it was recorded) continues from crl.pem', async () => {
  const pki = await makeTestPki();
  const paths = pkiPaths(pki.dir);
  try {
    await writeCrl(pki.dir);
    await writeCrl(pki.dir);
    const before = await crlNumberIn(pki.dir);
    const text = await readFile(paths.inventory, 'utf8');
    await writeFile(paths.inventory, text.replace(/^ {2}"crlNumber": \d+,\n/m, ''));
    assert.doesNotMatch(await readFile(paths.inventory, 'utf8'), /crlNumber/);
    await writeCrl(pki.dir);
    assert.equal(await crlNumberIn(pki.dir), (before as number) + 1);
  } finally {
    await pki.cleanup();
  }
});

test('a damaged crlNumber in the inventory stops the CA instead of restarting the sequence', async () => {
  const pki = await makeTestPki();
  const paths = pkiPaths(pki.dir);
  try {
    const text = await readFile(paths.inventory, 'utf8');
    await writeFile(paths.inventory, text.replace(/"crlNumber": \d+/, '"crlNumber": "7"'));
    await assert.rejects(writeCrl(pki.dir), (err: unknown) => err instanceof FleethubError && err.code === 'FH_ERR_PKI_IO' && /crlNumber/.test(err.message));
  } finally {
    await pki.cleanup();
  }
});
