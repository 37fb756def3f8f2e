import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { metricValue, startHub, type TestHub } from '../helpers/hub.js';
import { connectDevice, DeviceClient, tryConnectDevice, type DeviceClientOptions } from '../helpers/device-client.js';
import { makeTestPki, type DeviceCredentials } from '../helpers/pki.js';
import { loadCa } from '../../src/pki/index.js';
import { commonNameOf } from '../../src/hub/device-peer.js';
import { issueCertificate, keyIdentifier, randomSerial, signatureAlgorithm, signStructure, type Issuer } from '../../src/pki/certificate.js';
import { generateKeys, privateKeyPem, resolveKeySpec } from '../../src/pki/keys.js';
import { context, extension, name, namedBits, octets, OID, raw, seq, smallInt, time, unsignedInt } from '../../src/pki/asn1.js';
import { spkiDer } from '../../src/pki/key-encoding.js';
import { derToPem } from '../../src/pki/der-reader.js';

let th: TestHub;
let good: DeviceCredentials;

before(async () => {
  th = await startHub();
  good = await th.pki.addDevice('tls-good');
});
after(async () => {
  await th.stop();
});

function metric(hub: TestHub, line: string): number {
  return metricValue(hub.hub, line);
}

function options(c: DeviceCredentials | undefined, extra: Partial<DeviceClientOptions> = {}): DeviceClientOptions {
  return { url: th.deviceUrl, ca: th.pki.ca, ...(c === undefined ? {} : { cert: c.cert, key: c.key }), ...extra };
}

function httpsGet(path: string, method = 'GET'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: th.devicePort, path, method, ca: th.pki.ca, cert: good.cert, key: good.key, servername: 'localhost', agent: false },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('every refused certificate kind fails in the TLS handshake and never reaches HTTP', async () => {
  const revoked = await th.pki.addDevice('tls-revoked');
  await th.pki.revoke('tls-revoked');
  await th.hub.checkRevocation();
  const kinds: Array<[string, DeviceCredentials | undefined]> = [
    ['none', undefined],
    ['other CA', await th.pki.otherCaDevice('tls-good')],
    ['expired', await th.pki.expiredDevice('tls-expired')],
    ['revoked', revoked],
    ['serverAuth only', th.pki.serverCertAsClient()],
  ];
  const upgradesBefore = th.hub.metrics.render().match(/^fleethub_device_upgrades_refused_total.*$/gm) ?? [];
  for (const tls of ['TLSv1.2', 'TLSv1.3'] as const) {
    for (const [kind, creds] of kinds) {
      const result = await tryConnectDevice(options(creds, { minVersion: tls, maxVersion: tls }));
      assert.ok(!(result instanceof DeviceClient), `${kind} over ${tls} must be refused`);
      assert.equal(result.status, undefined, `${kind} over ${tls} got an HTTP answer`);
    }
  }
  const upgradesAfter = th.hub.metrics.render().match(/^fleethub_device_upgrades_refused_total.*$/gm) ?? [];
  assert.deepEqual(upgradesAfter, upgradesBefore, 'no refused certificate reached the HTTP upgrade');
  for (const reason of ['no_certificate', 'unknown_ca', 'expired', 'revoked', 'bad_certificate']) {
    assert.equal(metric(th, `fleethub_tls_handshake_failures_total{reason="${reason}"}`), 2, reason);
  }
  assert.equal(th.hub.onlineDevices().length, 0);
});

test('only GET /v1/device upgrades: anything else is 404', async () => {
  assert.equal(await httpsGet('/'), 404);
  assert.equal(await httpsGet('/v1/device'), 404, 'no upgrade header');
  assert.equal(await httpsGet('/v1/device', 'POST'), 404);
  const wrongPath = await tryConnectDevice(options(good, { url: th.deviceUrl.replace('/v1/device', '/v1/other') }));
  assert.ok(!(wrongPath instanceof DeviceClient));
  assert.equal(wrongPath.status, 404);
});

test('TLS 1.2 with ECDHE-ECDSA-AES128-GCM-SHA256 only (as an ESP32 offers), and TLS 1.3', async () => {
  const esp32 = await connectDevice(options(good, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }));
  try {
    assert.equal(esp32.socket.getProtocol(), 'TLSv1.2');
    assert.equal(esp32.socket.getCipher().standardName, 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256');
    esp32.sendSeqs([1]);
    await esp32.waitForAck(1);
  } finally {
    await esp32.close();
  }
  const modern = await connectDevice(options(good, { minVersion: 'TLSv1.3' }));
  try {
    assert.equal(modern.socket.getProtocol(), 'TLSv1.3');
    assert.equal((await modern.hello()).device, 'tls-good');
  } finally {
    await modern.close();
  }
  const old = await tryConnectDevice(options(good, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }));
  assert.ok(!(old instanceof DeviceClient), 'TLS 1.1 is refused');
});

test('TLS session resumption keeps the device identity (TLS 1.2 and 1.3)', async () => {
  for (const tls of ['TLSv1.2', 'TLSv1.3'] as const) {
    const first = await connectDevice(options(good, { minVersion: tls, maxVersion: tls }));
    await first.hello();
    const session = first.session;
    await first.close();
    assert.ok(session, `${tls}: the hub issued a session`);
    const resumed = await connectDevice(options(good, { minVersion: tls, maxVersion: tls, session }));
    try {
      assert.equal(resumed.socket.isSessionReused(), true, `${tls}: resumed`);
      assert.equal((await resumed.hello()).device, 'tls-good');
    } finally {
      await resumed.close();
    }
  }
});

test('a revoked device cannot come back through a resumed TLS session', async () => {
  const device = await th.pki.addDevice('tls-resume-revoked');
  for (const tls of ['TLSv1.2', 'TLSv1.3'] as const) {
    const first = await connectDevice(options(device, { minVersion: tls, maxVersion: tls }));
    await first.hello();
    assert.ok(first.session);
    await first.close();
  }
  const sessions = new Map<string, Buffer>();
  for (const tls of ['TLSv1.2', 'TLSv1.3'] as const) {
    const c = await connectDevice(options(device, { minVersion: tls, maxVersion: tls }));
    await c.hello();
    sessions.set(tls, c.session!);
    await c.close();
  }
  await th.pki.revoke('tls-resume-revoked');
  await th.hub.checkRevocation();
  const before = metric(th, 'fleethub_tls_handshake_failures_total{reason="revoked_resumed"}');
  for (const [tls, session] of sessions) {
    const result = await tryConnectDevice(options(device, { minVersion: tls as 'TLSv1.2', maxVersion: tls as 'TLSv1.2', session }));
    assert.ok(!(result instanceof DeviceClient), `${tls}: refused`);
  }
  assert.equal(metric(th, 'fleethub_tls_handshake_failures_total{reason="revoked_resumed"}'), before + 2, 'both came through resumption and were stopped by the hub');
});

test('ECDHE-RSA-AES128-GCM-SHA256 over TLS 1.2 against an RSA server key', async () => {
  const rsaPki = await makeTestPki({ keyType: 'rsa' });
  const rsa = await startHub({}, rsaPki);
  try {
    const device = await rsaPki.addDevice('tls-rsa');
    const client = await connectDevice({ url: rsa.deviceUrl, ca: rsaPki.ca, cert: device.cert, key: device.key, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' });
    try {
      assert.equal(client.socket.getCipher().standardName, 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256');
      assert.equal((await client.hello()).device, 'tls-rsa');
    } finally {
      await client.close();
    }
  } finally {
    await rsa.stop();
    await rsaPki.cleanup();
  }
});

test('the identity is the one CN of the subject; none or several is no identity', () => {
  assert.equal(commonNameOf('CN=dev-1'), 'dev-1');
  assert.equal(commonNameOf('O=fleet\nCN=dev-1'), 'dev-1');
  assert.equal(commonNameOf('O=fleet'), null);
  assert.equal(commonNameOf('CN=dev-1\nCN=dev-2'), null);
  assert.equal(commonNameOf('O=fleet\nCN=dev-1\nOU=lab'), 'dev-1');
  assert.equal(commonNameOf('O=fleet\nCN=dev-1\nOU=lab\nCN=dev-2'), null);
  assert.equal(commonNameOf('O=fleet\nXCN=dev-1'), null, 'only a whole CN attribute counts');
  assert.equal(commonNameOf('CN=dev-1 + CN=dev-2'), 'dev-1 + CN=dev-2', 'a multi-valued RDN stays one (invalid) id');
});

test('a certificate from the CA whose CN is not a valid device id is refused at the upgrade (403)', async () => {
  const { issuer } = await loadCa(th.pki.dir);
  const keys = await generateKeys(resolveKeySpec('ec'));
  const now = Date.now();
  const cert = issueCertificate({
    profile: 'device', commonName: '-not a valid id', publicKey: keys.publicKey, issuer,
    validity: { notBefore: new Date(now - 3_600_000), notAfter: new Date(now + 86_400_000) },
  });
  const result = await tryConnectDevice(options({ id: 'x', cert: cert.pem, key: privateKeyPem(keys.privateKey) }));
  assert.ok(!(result instanceof DeviceClient));
  assert.equal(result.status, 403);
  assert.equal(metric(th, 'fleethub_device_upgrades_refused_total{reason="invalid_id"}'), 1);
});

/**
 * A device certificate from the CA as `device add` makes it (CA:false,
 * keyUsage digitalSignature) but with no extendedKeyUsage extension at all,
 * which OpenSSL's purpose check lets through.
 */
async function deviceWithoutExtendedKeyUsage(issuer: Issuer, id: string): Promise<DeviceCredentials> {
  const keys = await generateKeys(resolveKeySpec('ec'));
  const now = Date.now();
  const tbs = seq([
    context(0, [smallInt(2)]),
    unsignedInt(randomSerial()),
    signatureAlgorithm(issuer.key),
    raw(issuer.subjectDer),
    seq([time(new Date(now - 3_600_000)), time(new Date(now + 86_400_000))]),
    name(id),
    raw(spkiDer(keys.publicKey)),
    context(3, [seq([
      extension(OID.basicConstraints, true, seq([])),
      extension(OID.keyUsage, true, namedBits([0])),
      extension(OID.subjectKeyIdentifier, false, octets(keyIdentifier(keys.publicKey))),
      extension(OID.authorityKeyIdentifier, false, seq([context(0, issuer.keyId.toString('binary'), false)])),
    ])]),
  ]);
  return { id, cert: derToPem(signStructure(tbs, issuer.key), 'CERTIFICATE'), key: privateKeyPem(keys.privateKey) };
}

test('a certificate from the CA without extendedKeyUsage clientAuth is refused before any HTTP (TLS 1.2 and 1.3)', async () => {
  const { issuer } = await loadCa(th.pki.dir);
  const creds = await deviceWithoutExtendedKeyUsage(issuer, 'tls-no-eku');
  const before = metric(th, 'fleethub_tls_handshake_failures_total{reason="bad_certificate"}');
  const upgradesBefore = th.hub.metrics.render().match(/^fleethub_device_upgrades_refused_total.*$/gm) ?? [];
  for (const tls of ['TLSv1.2', 'TLSv1.3'] as const) {
    const result = await tryConnectDevice(options(creds, { minVersion: tls, maxVersion: tls }));
    assert.ok(!(result instanceof DeviceClient), `${tls}: refused`);
    assert.equal(result.status, undefined, `${tls}: refused before HTTP`);
  }
  assert.equal(metric(th, 'fleethub_tls_handshake_failures_total{reason="bad_certificate"}'), before + 2);
  assert.deepEqual(th.hub.metrics.render().match(/^fleethub_device_upgrades_refused_total.*$/gm) ?? [], upgradesBefore);
  assert.equal(th.hub.onlineDevices().includes('tls-no-eku'), false);
});
