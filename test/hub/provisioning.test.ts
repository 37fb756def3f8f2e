/**
 * Provisioning by claim (SPEC): a device with its batch's claim certificate
 * asks `/v1/provision` for its own certificate with a CSR made by Node's
 * crypto, as firmware makes one, then streams with it on TLS 1.2 with the
 * ESP32 suite. Every "Bad input" row of the issue gets its SPEC answer, a
 * metric, and nothing is issued. Real TLS, certificates from src/pki.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connectDevice, DeviceClient, tryConnectDevice, type DeviceClientOptions } from '../helpers/device-client.js';
import { metricValue, startHub, type TestHub } from '../helpers/hub.js';
import { makeTestPki, type DeviceCredentials, type TestPki } from '../helpers/pki.js';
import { addBatch, revokeBatch, resetProvisioned } from '../../src/pki/claim-batches.js';
import { createCsr } from '../../src/pki/csr-builder.js';
import { initIssuingCa } from '../../src/pki/issuing-ca.js';
import { pkiPaths, readInventory } from '../../src/pki/index.js';
import { privateKeyPem } from '../../src/pki/keys.js';
import { createMemoryLogger } from '../../src/log.js';

const ESP32_TLS = { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' } as const;
const ALLOWED = ['l7-0001', 'l7-0002', 'l7-0003', 'l7-0004', 'l7-0005', 'l7-0006'];

interface Reply {
  provisioned?: { device: string; cert: string; serial: string; notAfter: number };
  provisionError?: { error: string; retryAfterMs?: number };
}

let pki: TestPki;
let th: TestHub;
const log = createMemoryLogger();

async function claim(batch: string): Promise<DeviceCredentials> {
  const paths = pkiPaths(pki.dir);
  return { id: batch, cert: await readFile(paths.claimCert(batch), 'utf8'), key: await readFile(paths.claimKey(batch), 'utf8') };
}

function provisionUrl(hub: TestHub): string {
  return hub.deviceUrl.replace('/v1/device', '/v1/provision');
}

function p256(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

/** One provisioning exchange: connect with the claim certificate, send `text`, read the reply and the close code. */
async function provision(hub: TestHub, creds: DeviceCredentials, text: string): Promise<{ reply: Reply | null; code: number }> {
  const client = await connectDevice({ url: provisionUrl(hub), ca: pki.ca, cert: creds.cert, key: creds.key, ...ESP32_TLS });
  client.ws.send(text);
  const code = await client.waitForClose();
  return { reply: (client.messages[0] as Reply | undefined) ?? null, code };
}

function request(device: string, csr: string): string {
  return JSON.stringify({ provision: { device, csr } });
}

before(async () => {
  pki = await makeTestPki();
  await initIssuingCa(pki.dir);
  await addBatch(pki.dir, 'line-7', { ids: ALLOWED });
  await addBatch(pki.dir, 'lab', { open: true, max: 1 });
  await addBatch(pki.dir, 'gone', { ids: ['gone-1'] });
  await revokeBatch(pki.dir, 'gone');
  th = await startHub({ log }, pki);
});
after(async () => {
  await th.stop();
  await pki.cleanup();
});

test('provisioning end to end: a CSR over the claim certificate, then telemetry with the new certificate on TLS 1.2 (ESP32 suite)', async () => {
  const keys = p256();
  const line7 = await claim('line-7');
  const first = await provision(th, line7, request('l7-0001', createCsr('l7-0001', keys.publicKey, keys.privateKey)));
  assert.equal(first.code, 1000);
  const issued = first.reply?.provisioned;
  assert.ok(issued !== undefined, JSON.stringify(first.reply));
  assert.equal(issued.device, 'l7-0001');
  const cert = new X509Certificate(issued.cert);
  assert.equal(cert.subject, 'CN=l7-0001');
  assert.equal(cert.serialNumber, issued.serial);
  assert.equal(new Date(cert.validTo).getTime(), issued.notAfter);
  assert.ok(cert.checkIssued(new X509Certificate(await readFile(pkiPaths(pki.dir).issuingCert))), 'signed by the issuing CA');
  assert.ok(cert.publicKey.equals(keys.publicKey), 'for the device\'s own key');
  assert.ok(log.lines.some((l) => / provision\.issued /.test(l) && l.includes('id=l7-0001') && l.includes('batch=line-7')), 'one audit line');

  const device: DeviceClientOptions = { url: th.deviceUrl, ca: pki.ca, cert: issued.cert, key: privateKeyPem(keys.privateKey), ...ESP32_TLS };
  const client = await connectDevice(device);
  assert.equal((await client.hello()).device, 'l7-0001');
  client.sendSeqs([1, 2]);
  await client.waitForAck(2);
  await client.close();

  // A lost reply: the identical repeat (same id, same key) gets the same certificate back.
  const again = await provision(th, line7, request('l7-0001', createCsr('l7-0001', keys.publicKey, keys.privateKey)));
  assert.equal(again.code, 1000);
  assert.equal(again.reply?.provisioned?.serial, issued.serial);
  assert.equal(again.reply?.provisioned?.cert, issued.cert);
  assert.equal(metricValue(th.hub, 'fleethub_provisioning_total{outcome="issued"}'), 1);
  assert.equal(metricValue(th.hub, 'fleethub_provisioning_total{outcome="repeat"}'), 1);
  const inventory = await readInventory(pki.dir);
  assert.equal(inventory.filter((d) => d.id === 'l7-0001').length, 1);
  assert.equal(inventory.find((d) => d.id === 'l7-0001')?.hasKey, false, 'the hub never had the key');
});

test('bad input on /v1/provision: each gets its SPEC answer and a metric, and nothing is issued', async () => {
  const line7 = await claim('line-7');
  const before = (await readInventory(pki.dir)).length;
  const expectError = async (text: string, error: string): Promise<void> => {
    const { reply, code } = await provision(th, line7, text);
    assert.equal(code, 4003, `${error}: close code`);
    assert.equal(reply?.provisionError?.error, error, JSON.stringify(reply));
  };
  const keys = p256();
  // An id off the allow-list.
  await expectError(request('intruder-1', createCsr('intruder-1', keys.publicKey, keys.privateKey)), 'not_allowed');
  // A CSR with another CN than the id asked for.
  await expectError(request('l7-0002', createCsr('l7-0003', keys.publicKey, keys.privateKey)), 'csr_invalid');
  // A weak key.
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
  await expectError(request('l7-0002', createCsr('l7-0002', weak.publicKey, weak.privateKey)), 'csr_invalid');
  // A bad signature: one byte of the signed part changed.
  const good = createCsr('l7-0002', keys.publicKey, keys.privateKey);
  const der = Buffer.from(good.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
  der[der.length - 80] = (der[der.length - 80] ?? 0) ^ 0x01;
  await expectError(request('l7-0002', `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`), 'csr_invalid');
  // Malformed: not JSON, and JSON that is not a provision request (a private key is never accepted).
  await expectError('{"provision":', 'csr_invalid');
  await expectError(JSON.stringify({ provision: { device: 'l7-0002', key: privateKeyPem(keys.privateKey) } }), 'csr_invalid');
  // A second provisioning of a provisioned id with another key.
  const other = p256();
  await expectError(request('l7-0001', createCsr('l7-0001', other.publicKey, other.privateKey)), 'already_provisioned');
  // An id that already has an active certificate from `device add`.
  await pki.addDevice('l7-0006');
  await expectError(request('l7-0006', createCsr('l7-0006', keys.publicKey, keys.privateKey)), 'already_provisioned');
  // An open batch past its maximum.
  const lab = await claim('lab');
  assert.equal((await provision(th, lab, request('lab-1', createCsr('lab-1', keys.publicKey, keys.privateKey)))).code, 1000);
  const past = await provision(th, lab, request('lab-2', createCsr('lab-2', other.publicKey, other.privateKey)));
  assert.equal(past.reply?.provisionError?.error, 'not_allowed');
  // Oversized: the WebSocket closes with 1009 before anything is parsed.
  const big = await provision(th, line7, request('l7-0002', 'A'.repeat(th.config.provisioning.maxRequestBytes + 1)));
  assert.equal(big.code, 1009);
  assert.equal(big.reply, null);

  assert.equal(metricValue(th.hub, 'fleethub_provisioning_total{outcome="not_allowed"}'), 2);
  assert.equal(metricValue(th.hub, 'fleethub_provisioning_total{outcome="csr_invalid"}'), 5);
  assert.equal(metricValue(th.hub, 'fleethub_provisioning_total{outcome="already_provisioned"}'), 2);
  const after = await readInventory(pki.dir);
  assert.equal(after.length, before + 2, 'only l7-0006 (device add) and lab-1 were issued');
  assert.ok(!after.some((d) => ['intruder-1', 'l7-0002', 'lab-2'].includes(d.id)));
});

test('a claim certificate opens only /v1/provision, a device certificate only /v1/device, a revoked batch not even TLS', async () => {
  const line7 = await claim('line-7');
  const onDevice = await tryConnectDevice({ url: th.deviceUrl, ca: pki.ca, cert: line7.cert, key: line7.key });
  assert.ok(!(onDevice instanceof DeviceClient));
  assert.equal(onDevice.status, 403);
  const device = await pki.addDevice('prov-plain');
  const onProvision = await tryConnectDevice({ url: provisionUrl(th), ca: pki.ca, cert: device.cert, key: device.key });
  assert.ok(!(onProvision instanceof DeviceClient));
  assert.equal(onProvision.status, 403);
  assert.equal(metricValue(th.hub, 'fleethub_device_upgrades_refused_total{reason="claim_certificate"}'), 1);
  assert.equal(metricValue(th.hub, 'fleethub_device_upgrades_refused_total{reason="device_certificate"}'), 1);

  const gone = await claim('gone');
  const revoked = await tryConnectDevice({ url: provisionUrl(th), ca: pki.ca, cert: gone.cert, key: gone.key });
  assert.ok(!(revoked instanceof DeviceClient));
  assert.equal(revoked.status, undefined, 'refused in the TLS handshake, before any HTTP');
});

test('provision reset lets an id be provisioned again with a new key; the old certificate is revoked', async () => {
  const line7 = await claim('line-7');
  const first = p256();
  const one = await provision(th, line7, request('l7-0004', createCsr('l7-0004', first.publicKey, first.privateKey)));
  const oldCert = one.reply?.provisioned?.cert as string;
  await resetProvisioned(pki.dir, 'l7-0004', null);
  await th.hub.checkRevocation();
  const second = p256();
  const two = await provision(th, line7, request('l7-0004', createCsr('l7-0004', second.publicKey, second.privateKey)));
  assert.equal(two.code, 1000);
  assert.notEqual(two.reply?.provisioned?.serial, one.reply?.provisioned?.serial);
  const stale = await tryConnectDevice({ url: th.deviceUrl, ca: pki.ca, cert: oldCert, key: privateKeyPem(first.privateKey) });
  assert.ok(!(stale instanceof DeviceClient), 'the certificate before the reset is refused');
});

test('rate limits per batch answer rate_limited with retryAfterMs, and issue nothing', async () => {
  const limited = await startHub({ provisioning: { perBatchPerMinute: 1 } }, pki);
  try {
    const line7 = await claim('line-7');
    const keys = p256();
    const ok = await provision(limited, line7, request('l7-0005', createCsr('l7-0005', keys.publicKey, keys.privateKey)));
    assert.equal(ok.code, 1000);
    const next = p256();
    const refused = await provision(limited, line7, request('l7-0003', createCsr('l7-0003', next.publicKey, next.privateKey)));
    assert.equal(refused.code, 4003);
    assert.equal(refused.reply?.provisionError?.error, 'rate_limited');
    assert.ok((refused.reply?.provisionError?.retryAfterMs ?? 0) > 0);
    assert.ok(!(await readInventory(pki.dir)).some((d) => d.id === 'l7-0003'));
    assert.equal(metricValue(limited.hub, 'fleethub_provisioning_total{outcome="rate_limited"}'), 1);
  } finally {
    await limited.stop();
  }
});
