/**
 * Certificate renewal over protocol 2, end to end on a real hub (SPEC:
 * Device protocol version 2): a device due for renewal sends a CSR made with
 * Node's crypto on TLS 1.2 with the ESP32 suite, gets its certificate,
 * reconnects with it; the old one is revoked after that commit and not
 * before. A lost reply then a repeat, a power cut before the reconnect, a
 * hub restarted in the middle, `{"renew":{}}` for a key that stays, and a
 * pending certificate never used.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { tryConnectDevice } from '../helpers/device-client.js';
import { metricValue, startHub, waitUntil } from '../helpers/hub.js';
import { parseCrl, pkiPaths, revokeDevice } from '../../src/pki/index.js';
import { loadInventory } from '../../src/pki/inventory.js';
import { keySha256 } from '../../src/pki/provisioning.js';
import { agedDevice, certReply, connectV2, csrFor, currentSerial, DAY_MS, deviceKeys, dueDevice, ESP32_TLS, issuingCrl, makeSigningPki } from './renewal-fixture.js';

type CertBody = { pem: string; serial: string; notAfter: number };

test('a due device renews on TLS 1.2 with the ESP32 suite: new key, reconnect, old certificate revoked only after the commit', async () => {
  const pki = await makeSigningPki();
  const hub = await startHub({}, pki);
  try {
    const old = await dueDevice(pki, 'rn-e2e');
    const oldSerial = new X509Certificate(old.cert).serialNumber.toUpperCase();
    const first = await connectV2(hub.deviceUrl, pki, old);
    const hello = await first.hello();
    assert.ok(hello.features?.includes('renew'), 'the hub offers renewal');
    const helloCert = hello.cert as { serial: string; notAfter: number; renew: boolean };
    assert.equal(helloCert.serial, oldSerial);
    assert.equal(helloCert.notAfter, Date.parse(new X509Certificate(old.cert).validTo));
    assert.equal(helloCert.renew, true, '300 of 330 days gone: due');

    const keys = deviceKeys();
    first.send({ csr: csrFor('rn-e2e', keys) });
    const body = (await certReply(first)).cert as CertBody;
    const issued = new X509Certificate(body.pem);
    assert.equal(issued.serialNumber.toUpperCase(), body.serial);
    assert.equal(body.notAfter, Date.parse(issued.validTo));
    assert.ok(issued.publicKey.equals(keys.publicKey), 'the certificate is for the key of the CSR');
    assert.match(issued.subject, /CN=rn-e2e/);
    assert.ok(issued.verify(new X509Certificate(await readFile(pkiPaths(pki.dir).issuingCert)).publicKey), 'signed by the issuing CA');
    // With renewal on the default lifetime is a year.
    const days = (body.notAfter - Date.parse(issued.validFrom)) / DAY_MS;
    assert.ok(days > 364 && days < 366, `a year, got ${days} days`);

    // Pending: the old certificate is still current and on no CRL, and keeps streaming.
    assert.equal(await currentSerial(pki, 'rn-e2e'), oldSerial);
    assert.ok(!parseCrl(await issuingCrl(pki)).serials.has(oldSerial));
    first.sendSeqs([1]);
    await first.waitForAck(1);
    await first.close();

    const renewed = { cert: body.pem, key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
    const second = await connectV2(hub.deviceUrl, pki, renewed);
    const cert2 = (await second.hello()).cert as { serial: string; renew: boolean };
    assert.equal(cert2.serial, body.serial);
    assert.equal(cert2.renew, false, 'a fresh certificate is not due');
    await waitUntil(async () => (await currentSerial(pki, 'rn-e2e')) === body.serial, 'the renewed certificate becomes current');
    await waitUntil(async () => parseCrl(await issuingCrl(pki)).serials.has(oldSerial), 'the previous certificate is on the CRL');
    const history = (await loadInventory(pki.dir)).history.find((d) => d.serial === oldSerial);
    assert.equal(history?.reason, 'superseded');
    // The commit counts itself once its CRL and inventory are written, a moment after the CRL is seen.
    await waitUntil(() => metricValue(hub.hub, 'fleethub_cert_renewals_committed_total') === 1, 'the commit is counted');
    assert.equal(metricValue(hub.hub, 'fleethub_cert_renewals_committed_total'), 1);
    assert.equal(metricValue(hub.hub, 'fleethub_cert_renewals_total{outcome="issued"}'), 1);
    second.sendSeqs([2]);
    await second.waitForAck(2);
    await second.close();

    // The old certificate no longer opens the door.
    await hub.hub.checkRevocation();
    const refused = await tryConnectDevice({ url: hub.deviceUrl, ca: pki.ca, cert: old.cert, key: old.key, protocol: 'fleethub.v2', ...ESP32_TLS });
    assert.equal('ok' in refused && refused.ok === false, true, 'the superseded certificate is refused');
  } finally {
    await hub.stop();
  }
});

test('a lost {"cert"} then a repeat gets the same certificate; a power cut before the reconnect leaves the old one working', async () => {
  const pki = await makeSigningPki();
  const hub = await startHub({}, pki);
  try {
    const old = await dueDevice(pki, 'rn-lost');
    const keys = deviceKeys();
    const csr = csrFor('rn-lost', keys);
    const first = await connectV2(hub.deviceUrl, pki, old);
    first.send({ csr });
    const lost = (await certReply(first)).cert as CertBody;
    // The reply is "lost": the device never stored it and the connection drops.
    first.ws.terminate();
    await first.closed;

    const again = await connectV2(hub.deviceUrl, pki, old);
    assert.equal(((await again.hello()).cert as { renew: boolean }).renew, true, 'still due: the old certificate is current');
    again.send({ csr });
    const repeat = (await certReply(again)).cert as CertBody;
    assert.equal(repeat.serial, lost.serial);
    assert.equal(repeat.pem, lost.pem);
    assert.equal(metricValue(hub.hub, 'fleethub_cert_renewals_total{outcome="repeat"}'), 1);
    assert.equal((await loadInventory(pki.dir)).pending.length, 1, 'one pending certificate, not two');
    // Power cut between storing the certificate and reconnecting: the device comes back on its old one.
    again.ws.terminate();
    await again.closed;
    const after = await connectV2(hub.deviceUrl, pki, old);
    after.sendSeqs([1]);
    await after.waitForAck(1);
    await after.close();
    assert.equal(metricValue(hub.hub, 'fleethub_cert_renewals_committed_total'), 0);
  } finally {
    await hub.stop();
  }
});

test('{"renew":{}} certifies the key of the handshake again; a hub restarted in the middle commits at the first handshake', async () => {
  const pki = await makeSigningPki();
  let hub = await startHub({}, pki);
  const dataDir = hub.dataDir;
  try {
    const old = await dueDevice(pki, 'rn-same-key');
    const oldCert = new X509Certificate(old.cert);
    const client = await connectV2(hub.deviceUrl, pki, old);
    client.send({ renew: {} });
    const body = (await certReply(client)).cert as CertBody;
    const issued = new X509Certificate(body.pem);
    assert.ok(issued.publicKey.equals(oldCert.publicKey), 'same key');
    assert.notEqual(body.serial, oldCert.serialNumber.toUpperCase());
    await client.close();

    // Restart with the renewal pending: the record is in the inventory, not in the hub's memory.
    await hub.hub.close();
    hub = await startHub({ dataDir }, pki);
    const renewed = await connectV2(hub.deviceUrl, pki, { cert: body.pem, key: old.key });
    await waitUntil(async () => (await currentSerial(pki, 'rn-same-key')) === body.serial, 'committed after the restart');
    await waitUntil(async () => parseCrl(await issuingCrl(pki)).serials.has(oldCert.serialNumber.toUpperCase()), 'previous revoked');
    // The key file stays: the certificate is for the same key.
    assert.equal(await readFile(pkiPaths(pki.dir).deviceKey('rn-same-key'), 'utf8'), old.key);
    assert.equal(await readFile(pkiPaths(pki.dir).deviceCert('rn-same-key'), 'utf8'), body.pem);
    await renewed.close();
  } finally {
    await hub.stop();
  }
});

test('a pending certificate unused past pendingTtl is revoked; a CLI revoke takes the pending one with it', async () => {
  const pki = await makeSigningPki();
  const hub = await startHub({ renewal: { pendingTtl: '1s', checkInterval: '1h' } }, pki);
  try {
    const old = await dueDevice(pki, 'rn-unused');
    const keys = deviceKeys();
    const client = await connectV2(hub.deviceUrl, pki, old);
    client.send({ csr: csrFor('rn-unused', keys) });
    const body = (await certReply(client)).cert as CertBody;
    await client.close();
    await waitUntil(async () => {
      await hub.hub.checkRenewals();
      return (await loadInventory(pki.dir)).pending.length === 0;
    }, 'the unused pending certificate is revoked');
    assert.ok(parseCrl(await issuingCrl(pki)).serials.has(body.serial));
    assert.equal(metricValue(hub.hub, 'fleethub_cert_pending_revoked_total'), 1);
    await hub.hub.checkRevocation();
    const refused = await tryConnectDevice({ url: hub.deviceUrl, ca: pki.ca, cert: body.pem, key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), ...ESP32_TLS });
    assert.equal('ok' in refused, true, 'the revoked pending certificate is refused');
    // The old one still works.
    const back = await connectV2(hub.deviceUrl, pki, old);
    await back.close();

    // A device revoked by hand loses its pending certificate too.
    const other = await dueDevice(pki, 'rn-revoked');
    const c2 = await connectV2(hub.deviceUrl, pki, other);
    c2.send({ renew: {} });
    const pending = (await certReply(c2)).cert as CertBody;
    await c2.close();
    await revokeDevice(pki.dir, 'rn-revoked', { reason: 'keyCompromise' });
    assert.ok(parseCrl(await issuingCrl(pki)).serials.has(pending.serial), 'the pending certificate is on the CRL with the device');
  } finally {
    await hub.stop();
  }
});

test('the expiry gauge counts active certificates with less than a tenth of their lifetime left', async () => {
  const pki = await makeSigningPki();
  await agedDevice(pki, 'rn-close', 100, 5);
  await agedDevice(pki, 'rn-due-only', 250, 50);
  await pki.addDevice('rn-fresh');
  const lines: string[] = [];
  const hub = await startHub({ log: { log: (_l, event, fields) => lines.push(`${event} ${JSON.stringify(fields)}`), enabled: () => true } }, pki);
  try {
    assert.equal(metricValue(hub.hub, 'fleethub_device_certs_expiring'), 1);
    assert.ok(lines.some((l) => l.startsWith('renewal.expiring') && l.includes('rn-close') && !l.includes('rn-fresh')), lines.join('\n'));
    const client = await connectV2(hub.deviceUrl, pki, await agedDevice(pki, 'rn-close-2', 100, 5));
    await client.close();
    assert.ok(lines.some((l) => l.startsWith('device.cert_expiring') && l.includes('rn-close-2')));
  } finally {
    await hub.stop();
  }
});

test('renewed certificates get notAfter from renewal.deviceDays; keySha256 of the pending record is the CSR key\'s', async () => {
  const pki = await makeSigningPki();
  const hub = await startHub({ renewal: { deviceDays: 30 } }, pki);
  try {
    const client = await connectV2(hub.deviceUrl, pki, await dueDevice(pki, 'rn-days'));
    const keys = deviceKeys();
    client.send({ csr: csrFor('rn-days', keys) });
    const body = (await certReply(client)).cert as CertBody;
    const days = (body.notAfter - Date.parse(new X509Certificate(body.pem).validFrom)) / DAY_MS;
    assert.ok(days > 29 && days < 31, `30 days, got ${days}`);
    assert.equal((await loadInventory(pki.dir)).pending[0]?.keySha256, keySha256(keys.publicKey));
    await client.close();
  } finally {
    await hub.stop();
  }
});
