/**
 * Online signing (SPEC: Certificate authority for online signing): a root
 * that certifies one issuing CA, device certificates signed by the issuing
 * CA accepted by a real hub on TLS 1.2 with the ESP32 suite while the root's
 * key is off the machine, revocation through the issuing CA's CRL, the
 * root's CRL loaded and under the expired-CRL policy too, an encrypted
 * issuing key, and a PKI made the old way (a pathlen:0 root) working as before.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connectDevice, DeviceClient, tryConnectDevice, type DeviceClientOptions } from '../helpers/device-client.js';
import { startHub } from '../helpers/hub.js';
import { makeTestPki, type DeviceCredentials, type TestPki } from '../helpers/pki.js';
import { runCli } from '../helpers/cli.js';
import { addDevice, parseCrl, pkiPaths, readInventory, revokeDevice } from '../../src/pki/index.js';
import { buildCrl } from '../../src/pki/crl.js';
import { initIssuingCa } from '../../src/pki/issuing-ca.js';
import { loadCa } from '../../src/pki/loaded-ca.js';
import { writeFileAtomic } from '../../src/atomic-file.js';
import { FleethubError } from '../../src/errors.js';

const run = promisify(execFile);
const DAY_MS = 86_400_000;
const ESP32_TLS = { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' } as const;

async function credentials(pki: TestPki, id: string): Promise<DeviceCredentials> {
  const paths = pkiPaths(pki.dir);
  return { id, cert: await readFile(paths.deviceCert(id), 'utf8'), key: await readFile(paths.deviceKey(id), 'utf8') };
}

function options(url: string, pki: TestPki, creds: DeviceCredentials): DeviceClientOptions {
  return { url, ca: pki.ca, cert: creds.cert, key: creds.key, ...ESP32_TLS };
}

async function streams(url: string, pki: TestPki, creds: DeviceCredentials): Promise<void> {
  const client = await connectDevice(options(url, pki, creds));
  assert.equal((await client.hello()).device, creds.id);
  client.sendSeqs([1]);
  await client.waitForAck(1);
  await client.close();
}

/** Moves `ca.key` out of the PKI folder (as an operator moves it to offline storage); returns where it went. */
async function moveRootKeyAway(pki: TestPki): Promise<string> {
  const away = join(pki.dir, '..', `${pki.dir.split('/').pop() ?? 'pki'}-ca.key`);
  await rename(pkiPaths(pki.dir).caKey, away);
  return away;
}

test('ca init makes a root that certifies one issuing CA; devices signed by it stream on TLS 1.2 with the root key off the machine', async () => {
  const pki = await makeTestPki();
  const paths = pkiPaths(pki.dir);
  let away: string | null = null;
  try {
    const before = await pki.addDevice('os-root-signed');
    const made = await initIssuingCa(pki.dir);
    assert.equal(made.encrypted, false);
    // openssl: the issuing CA is a CA with pathlen 0 certified by the root; its devices verify through it.
    const issuing = new X509Certificate(await readFile(paths.issuingCert));
    const root = new X509Certificate(pki.ca);
    assert.ok(issuing.ca && issuing.checkIssued(root) && issuing.verify(root.publicKey));
    const text = (await run('openssl', ['x509', '-in', paths.issuingCert, '-noout', '-text'])).stdout;
    assert.match(text, /Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    assert.ok((await readFile(paths.issuingCrl, 'utf8')).includes('BEGIN X509 CRL'), 'the issuing CA starts with an empty CRL');

    away = await moveRootKeyAway(pki);
    // Without the root key, device add signs with the issuing CA.
    await addDevice(pki.dir, 'os-issued');
    const issued = await credentials(pki, 'os-issued');
    const issuedCert = new X509Certificate(issued.cert);
    assert.ok(issuedCert.checkIssued(issuing) && issuedCert.verify(issuing.publicKey));
    assert.equal((await readInventory(pki.dir)).find((d) => d.id === 'os-issued')?.issuer, 'issuing');
    const verify = await run('openssl', ['verify', '-CAfile', paths.caCert, '-untrusted', paths.issuingCert, '-purpose', 'sslclient', paths.deviceCert('os-issued')]);
    assert.match(verify.stdout, /OK/);

    const th = await startHub({}, pki);
    try {
      await streams(th.deviceUrl, pki, issued);
      await streams(th.deviceUrl, pki, before); // a root-signed device of the same PKI is unchanged

      // Revoking an issuing-signed device needs no root key: the issuing CA's CRL lists it, the hub drops it.
      const live = await connectDevice(options(th.deviceUrl, pki, issued));
      await live.hello();
      await revokeDevice(pki.dir, 'os-issued', { reason: 'keyCompromise' });
      assert.ok(parseCrl(await readFile(paths.issuingCrl, 'utf8')).serials.has(issuedCert.serialNumber));
      assert.equal(await live.waitForClose(5_000), 4001);
      const again = await tryConnectDevice(options(th.deviceUrl, pki, issued));
      assert.ok(!(again instanceof DeviceClient), 'a revoked issuing-signed device is refused');
    } finally {
      await th.stop();
    }
  } finally {
    if (away !== null) await rm(away, { force: true });
    await pki.cleanup();
  }
});

test('the root\'s CRL is loaded too: an issuing CA the root revoked is refused, and an expired root CRL falls under the expired-CRL policy', async () => {
  const pki = await makeTestPki();
  const paths = pkiPaths(pki.dir);
  try {
    await initIssuingCa(pki.dir);
    await addDevice(pki.dir, 'os-chain');
    const creds = await credentials(pki, 'os-chain');
    const issuingSerial = new X509Certificate(await readFile(paths.issuingCert)).serialNumber;
    const { issuer } = await loadCa(pki.dir);
    const current = parseCrl(await readFile(paths.crl, 'utf8'));

    // An expired root CRL: OpenSSL would refuse every chain it covers; the hub leaves the CRLs out and enforces them itself.
    const expired = buildCrl(issuer, [], { number: (current.number ?? 1) + 1, thisUpdate: new Date(Date.now() - 3 * DAY_MS), nextUpdate: new Date(Date.now() - DAY_MS) });
    await writeFileAtomic(paths.crl, expired);
    const th = await startHub({}, pki);
    try {
      await streams(th.deviceUrl, pki, creds);
      assert.match(th.hub.metrics.render(), /^fleethub_crl_expired 1$/m);

      // The root revokes the issuing CA: a fresh root CRL listing it, and OpenSSL refuses the whole chain.
      const revokedIssuing = buildCrl(issuer, [{ serial: issuingSerial, revokedAt: new Date(), reason: 'keyCompromise' }], {
        number: (current.number ?? 1) + 2, thisUpdate: new Date(), nextUpdate: new Date(Date.now() + 30 * DAY_MS),
      });
      await writeFileAtomic(paths.crl, revokedIssuing);
      await th.hub.checkRevocation();
      assert.match(th.hub.metrics.render(), /^fleethub_crl_expired 0$/m);
      const refused = await tryConnectDevice(options(th.deviceUrl, pki, creds));
      assert.ok(!(refused instanceof DeviceClient), 'a device under a revoked issuing CA is refused in the handshake');
    } finally {
      await th.stop();
    }
  } finally {
    await pki.cleanup();
  }
});

test('an encrypted issuing key: signing needs the passphrase (env or file), a wrong one is refused with one line', async () => {
  const pki = await makeTestPki();
  const paths = pkiPaths(pki.dir);
  const passFile = join(pki.dir, '..', `${pki.dir.split('/').pop() ?? 'pki'}-pass`);
  try {
    await writeFile(passFile, 'correct horse battery staple\n', { mode: 0o600 });
    const init = await runCli(['ca', 'issuing', 'init', '--pki', pki.dir, '--passphrase-file', passFile]);
    assert.equal(init.code, 0, init.stderr);
    // Encrypted: unreadable without the passphrase, readable with it.
    const issuingKeyPem = await readFile(paths.issuingKey, 'utf8');
    assert.throws(() => createPrivateKey(issuingKeyPem));
    assert.equal(createPrivateKey({ key: issuingKeyPem, passphrase: 'correct horse battery staple' }).type, 'private');

    const none = await runCli(['device', 'add', 'os-enc-1', '--pki', pki.dir]);
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, /^fleethub: .*issuing\.key is encrypted/);
    const wrong = await runCli(['device', 'add', 'os-enc-1', '--pki', pki.dir], { env: { FLEETHUB_ISSUING_PASSPHRASE: 'not the passphrase' } });
    assert.equal(wrong.code, 2, wrong.stderr);
    assert.equal(wrong.stderr.trim().split('\n').length, 1, wrong.stderr);
    assert.equal((await readInventory(pki.dir)).length, 0, 'nothing was issued');

    const byEnv = await runCli(['device', 'add', 'os-enc-1', '--pki', pki.dir], { env: { FLEETHUB_ISSUING_PASSPHRASE: 'correct horse battery staple' } });
    assert.equal(byEnv.code, 0, byEnv.stderr);
    const byFile = await runCli(['device', 'add', 'os-enc-2', '--pki', pki.dir, '--passphrase-file', passFile]);
    assert.equal(byFile.code, 0, byFile.stderr);
    const revoke = await runCli(['device', 'revoke', 'os-enc-2', '--pki', pki.dir, '--passphrase-file', passFile]);
    assert.equal(revoke.code, 0, revoke.stderr);
    assert.match(revoke.stdout, /issuing-crl\.pem rewritten/);

    const th = await startHub({}, pki);
    try {
      await streams(th.deviceUrl, pki, await credentials(pki, 'os-enc-1'));
      const revoked = await tryConnectDevice(options(th.deviceUrl, pki, await credentials(pki, 'os-enc-2')));
      assert.ok(!(revoked instanceof DeviceClient));
    } finally {
      await th.stop();
    }
  } finally {
    await rm(passFile, { force: true });
    await pki.cleanup();
  }
});

test('a PKI made before online signing (pathlen:0 root) keeps working; ca issuing init says how to add online signing, --standalone adds it', async () => {
  const pki = await makeTestPki({ rootPathLen: 0 });
  const paths = pkiPaths(pki.dir);
  try {
    const old = await pki.addDevice('os-old');
    const th = await startHub({}, pki);
    try {
      await streams(th.deviceUrl, pki, old);
    } finally {
      await th.stop();
    }
    await assert.rejects(initIssuingCa(pki.dir), (err: unknown) => err instanceof FleethubError && err.code === 'FH_ERR_INVALID_ARGUMENT' && /--standalone/.test(err.message));
    assert.equal(await readFile(paths.issuingCert, 'utf8').catch(() => null), null, 'nothing written');

    const made = await initIssuingCa(pki.dir, { standalone: true });
    assert.equal(made.standalone, true);
    await addDevice(pki.dir, 'os-new');
    const th2 = await startHub({}, pki);
    try {
      await streams(th2.deviceUrl, pki, old);
      await streams(th2.deviceUrl, pki, await credentials(pki, 'os-new'));
      await pki.revoke('os-old');
      await th2.hub.checkRevocation();
      const refused = await tryConnectDevice(options(th2.deviceUrl, pki, old));
      assert.ok(!(refused instanceof DeviceClient), 'the old root\'s CRL still revokes');
    } finally {
      await th2.stop();
    }
  } finally {
    await pki.cleanup();
  }
});
