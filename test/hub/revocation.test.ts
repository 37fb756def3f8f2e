import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { copyFile, readFile } from 'node:fs/promises';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { metricValue, startHub } from '../helpers/hub.js';
import { connectDevice, DeviceClient, tryConnectDevice } from '../helpers/device-client.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';
import { initCa, loadCa, parseCrl, pkiPaths, writeCrl } from '../../src/pki/index.js';
import { buildCrl } from '../../src/pki/crl.js';
import { writeFileAtomic } from '../../src/atomic-file.js';
import { DEFAULT_CRL_CHECK_MS } from '../../src/hub/config.js';
import { createMemoryLogger } from '../../src/log.js';

const DAY_MS = 86_400_000;
let pki: TestPki;

before(async () => {
  pki = await makeTestPki();
});
after(async () => {
  await pki.cleanup();
});

/** Rewrites crl.pem with the same serials and a nextUpdate in the past. */
async function writeExpiredCrl(dir: string): Promise<void> {
  const { issuer } = await loadCa(dir);
  const current = parseCrl(await readFile(pkiPaths(dir).crl, 'utf8'));
  const entries = [...current.serials].map((serial) => ({ serial, revokedAt: new Date(Date.now() - 3 * DAY_MS), reason: 'keyCompromise' as const }));
  const pem = buildCrl(issuer, entries, { number: (current.number ?? 1) + 1, thisUpdate: new Date(Date.now() - 3 * DAY_MS), nextUpdate: new Date(Date.now() - DAY_MS) });
  await writeFileAtomic(pkiPaths(dir).crl, pem);
}

test('revoking a connected device closes it with 4001 within the SPEC bound, and it cannot reconnect', async () => {
  // The default poll interval, so the bound is checked as users run it.
  const th = await startHub({ device: { crlCheckMs: DEFAULT_CRL_CHECK_MS } }, pki);
  try {
    const victim = await pki.addDevice('rev-live');
    const bystander = await pki.addDevice('rev-bystander');
    const client = await connectDevice({ url: th.deviceUrl, ca: pki.ca, cert: victim.cert, key: victim.key });
    const other = await connectDevice({ url: th.deviceUrl, ca: pki.ca, cert: bystander.cert, key: bystander.key });
    await client.hello();
    await pki.revoke('rev-live');
    // SPEC: "a running hub refuses it within 5 s and closes its live connection with 4001".
    assert.equal(await client.waitForClose(5_000), 4001);
    const again = await tryConnectDevice({ url: th.deviceUrl, ca: pki.ca, cert: victim.cert, key: victim.key });
    assert.ok(!(again instanceof DeviceClient));
    assert.equal(other.closeCode, null, 'other devices stay connected');
    other.sendSeqs([1]);
    await other.waitForAck(1);
    await other.close();
    assert.match(th.hub.metrics.render(), /^fleethub_crl_reloads_total [1-9]/m);
  } finally {
    await th.stop();
  }
});

test('what OpenSSL does with an expired CRL in Node\'s `crl` option: it refuses every client', async () => {
  const scratch = await makeTestPki();
  try {
    await writeExpiredCrl(scratch.dir);
    const server = createTlsServer({
      ca: scratch.ca, cert: scratch.server.cert, key: scratch.server.key, crl: await readFile(pkiPaths(scratch.dir).crl, 'utf8'),
      requestCert: true, rejectUnauthorized: false,
    });
    const verdicts: Array<string | null> = [];
    server.on('secureConnection', (socket: TLSSocket) => {
      verdicts.push(socket.authorized ? null : String(socket.authorizationError));
      socket.end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const good = await scratch.addDevice('rev-openssl-good');
    const socket = tlsConnect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', ca: scratch.ca, cert: good.cert, key: good.key, servername: 'localhost' });
    socket.on('error', () => {});
    await once(socket, 'close');
    server.close();
    assert.deepEqual(verdicts, ['CRL_HAS_EXPIRED']);
  } finally {
    await scratch.cleanup();
  }
});

test('a CRL past nextUpdate does not lock the fleet out, and its serials stay refused', async () => {
  const scratch = await makeTestPki();
  const th = await startHub({}, scratch);
  try {
    const good = await scratch.addDevice('rev-exp-good');
    const bad = await scratch.addDevice('rev-exp-bad');
    await scratch.revoke('rev-exp-bad');
    await writeExpiredCrl(scratch.dir);
    await th.hub.checkRevocation();
    assert.match(th.hub.metrics.render(), /^fleethub_crl_expired 1$/m);
    const client = await connectDevice({ url: th.deviceUrl, ca: scratch.ca, cert: good.cert, key: good.key });
    client.sendSeqs([1]);
    await client.waitForAck(1);
    await client.close();
    const refused = await tryConnectDevice({ url: th.deviceUrl, ca: scratch.ca, cert: bad.cert, key: bad.key });
    assert.ok(!(refused instanceof DeviceClient));
    assert.equal(refused.status, undefined, 'refused before HTTP');
  } finally {
    await th.stop();
    await scratch.cleanup();
  }
});

test('a corrupt crl.pem keeps the last good list (nobody is unrevoked)', async () => {
  const scratch = await makeTestPki();
  const th = await startHub({}, scratch);
  try {
    const bad = await scratch.addDevice('rev-corrupt');
    await scratch.revoke('rev-corrupt');
    await th.hub.checkRevocation();
    await writeFileAtomic(pkiPaths(scratch.dir).crl, '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n');
    await th.hub.checkRevocation();
    const refused = await tryConnectDevice({ url: th.deviceUrl, ca: scratch.ca, cert: bad.cert, key: bad.key });
    assert.ok(!(refused instanceof DeviceClient));
  } finally {
    await th.stop();
    await scratch.cleanup();
  }
});

test('ca init --force while the hub runs: the new CA\'s CRL is refused, the hub keeps its devices and revocations until restarted', async () => {
  const scratch = await makeTestPki();
  const log = createMemoryLogger();
  const th = await startHub({ log }, scratch);
  try {
    const good = await scratch.addDevice('rev-swap-good');
    const bad = await scratch.addDevice('rev-swap-bad');
    await scratch.revoke('rev-swap-bad');
    await th.hub.checkRevocation();
    await initCa(scratch.dir, { force: true }); // a new PKI: crl.pem is now the new CA's
    await th.hub.checkRevocation();
    assert.ok(log.lines.some((l) => / error crl\.invalid .*not signed by the CA the hub loaded/.test(l)), log.lines.join('\n'));
    const client = await connectDevice({ url: th.deviceUrl, ca: scratch.ca, cert: good.cert, key: good.key });
    client.sendSeqs([1]);
    await client.waitForAck(1);
    await client.close();
    const refused = await tryConnectDevice({ url: th.deviceUrl, ca: scratch.ca, cert: bad.cert, key: bad.key });
    assert.ok(!(refused instanceof DeviceClient), 'the old CA\'s revocation still holds');
  } finally {
    await th.stop();
    await scratch.cleanup();
  }
});

test('an older crl.pem put back unrevokes nobody: the hub keeps the newer CRL, says so, and loads the next newer one', async () => {
  const scratch = await makeTestPki();
  const log = createMemoryLogger();
  const th = await startHub({ log }, scratch);
  const paths = pkiPaths(scratch.dir);
  try {
    const victim = await scratch.addDevice('rev-rollback');
    const saved = join(scratch.dir, 'crl-saved.pem');
    await copyFile(paths.crl, saved);
    const oldNumber = parseCrl(await readFile(saved, 'utf8')).number as number;
    const live = await connectDevice({ url: th.deviceUrl, ca: scratch.ca, cert: victim.cert, key: victim.key });
    await scratch.revoke('rev-rollback');
    await th.hub.checkRevocation();
    assert.equal(await live.waitForClose(5_000), 4001);
    const revokedNumber = parseCrl(await readFile(paths.crl, 'utf8')).number as number;
    assert.ok(revokedNumber > oldNumber);
    assert.equal(metricValue(th.hub, 'fleethub_crl_number'), revokedNumber);

    // The old file put back (a backup restored, a copy from another machine).
    await copyFile(saved, paths.crl);
    await th.hub.checkRevocation();
    const refused = await tryConnectDevice({ url: th.deviceUrl, ca: scratch.ca, cert: victim.cert, key: victim.key });
    assert.ok(!(refused instanceof DeviceClient), 'the revoked device stays out');
    assert.equal(refused.status, undefined, 'refused in the TLS handshake, before HTTP');
    assert.equal(metricValue(th.hub, 'fleethub_crl_refused_total{reason="older"}'), 1);
    assert.equal(metricValue(th.hub, 'fleethub_crl_number'), revokedNumber);
    const line = log.lines.find((l) => / error crl\.refused /.test(l));
    assert.ok(line !== undefined, log.lines.join('\n'));
    assert.match(line, /reason=older/);
    assert.ok(line.includes(`number=${oldNumber} `) && line.includes(`loaded=${revokedNumber} `), line);

    // `fleethub ca crl` writes a number above both (the CA never reissues one): the hub loads it.
    await writeCrl(scratch.dir);
    await th.hub.checkRevocation();
    assert.ok(metricValue(th.hub, 'fleethub_crl_number') > revokedNumber);
    const still = await tryConnectDevice({ url: th.deviceUrl, ca: scratch.ca, cert: victim.cert, key: victim.key });
    assert.ok(!(still instanceof DeviceClient));
  } finally {
    await th.stop();
    await scratch.cleanup();
  }
});

test('a CRL with the loaded CRL\'s number but other content is refused (the CA never reissues a number)', async () => {
  const scratch = await makeTestPki();
  const log = createMemoryLogger();
  const th = await startHub({ log }, scratch);
  const paths = pkiPaths(scratch.dir);
  try {
    const victim = await scratch.addDevice('rev-same-number');
    await scratch.revoke('rev-same-number');
    await th.hub.checkRevocation();
    const loaded = parseCrl(await readFile(paths.crl, 'utf8'));
    // Signed by the CA, same number, nobody revoked.
    const { issuer } = await loadCa(scratch.dir);
    const pem = buildCrl(issuer, [], { number: loaded.number as number, thisUpdate: new Date(), nextUpdate: new Date(Date.now() + DAY_MS) });
    await writeFileAtomic(paths.crl, pem);
    await th.hub.checkRevocation();
    assert.equal(metricValue(th.hub, 'fleethub_crl_refused_total{reason="same_number"}'), 1);
    assert.ok(log.lines.some((l) => / error crl\.refused .*reason=same_number/.test(l)), log.lines.join('\n'));
    const refused = await tryConnectDevice({ url: th.deviceUrl, ca: scratch.ca, cert: victim.cert, key: victim.key });
    assert.ok(!(refused instanceof DeviceClient), 'the revocation holds');
  } finally {
    await th.stop();
    await scratch.cleanup();
  }
});
