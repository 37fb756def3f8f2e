/**
 * Bad renewal input on a real hub (issue 18, Bad input): a CSR with another
 * CN, a weak or unsupported key, a bad signature, a malformed or oversized
 * message, a request before the certificate is due, a renewal flood (per
 * connection, per device, hub-wide): each gets its SPEC answer, a metric,
 * and nothing is issued. Every limit is crossed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { metricValue, startHub, type TestHub } from '../helpers/hub.js';
import type { DeviceClient } from '../helpers/device-client.js';
import { loadInventory } from '../../src/pki/inventory.js';
import { derToPem, pemToDer } from '../../src/pki/der-reader.js';
import {
  DEFAULT_RENEWAL_MAX_CSR_BYTES, DEFAULT_RENEWAL_MAX_REQUESTS_PER_CONNECTION, DEFAULT_RENEWAL_MIN_INTERVAL_MS, DEFAULT_RENEWALS_PER_MINUTE,
} from '../../src/hub/renewal/renewal-config.js';
import { certReply, connectV2, csrFor, deviceKeys, dueDevice, makeSigningPki } from './renewal-fixture.js';

type CertError = { error: string; retryAfterMs?: number };

async function nothingIssued(hub: TestHub): Promise<void> {
  assert.equal((await loadInventory(hub.pki.dir)).pending.length, 0, 'nothing issued');
  assert.equal(metricValue(hub.hub, 'fleethub_cert_renewals_total{outcome="issued"}'), 0);
}

async function certError(client: DeviceClient, n: number): Promise<CertError> {
  const reply = await certReply(client, n);
  assert.ok('certError' in reply, `a certError, got ${JSON.stringify(reply)}`);
  return reply.certError as CertError;
}

test('the defaults are the documented ones', () => {
  assert.equal(DEFAULT_RENEWALS_PER_MINUTE, 600);
  assert.equal(DEFAULT_RENEWAL_MIN_INTERVAL_MS, 86_400_000);
  assert.equal(DEFAULT_RENEWAL_MAX_REQUESTS_PER_CONNECTION, 8);
  assert.equal(DEFAULT_RENEWAL_MAX_CSR_BYTES, 4096);
});

test('bad CSRs are csr_invalid and issue nothing: another CN, RSA-1024, P-384, a bad signature, not PEM, over maxCsrBytes', async () => {
  const pki = await makeSigningPki();
  const hub = await startHub({ renewal: { maxRequestsPerConnection: 20, maxCsrBytes: 1024 } }, pki);
  try {
    const client = await connectV2(hub.deviceUrl, pki, await dueDevice(pki, 'rf-csr'));
    const bad: string[] = [];
    bad.push(csrFor('rf-someone-else', deviceKeys()));
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 });
    bad.push(csrFor('rf-csr', rsa1024));
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    bad.push(csrFor('rf-csr', p384));
    const good = csrFor('rf-csr', deviceKeys());
    const der = pemToDer(good, 'CERTIFICATE REQUEST') as Buffer;
    der[der.length - 5] = (der[der.length - 5] as number) ^ 0xff; // inside the signature
    bad.push(derToPem(der, 'CERTIFICATE REQUEST'));
    bad.push('not a CSR');
    bad.push(`${good}${' '.repeat(1024)}`);
    for (const [i, csr] of bad.entries()) {
      client.send({ csr });
      assert.deepEqual(await certError(client, i + 1), { error: 'csr_invalid' }, `case ${i}`);
    }
    assert.equal(metricValue(hub.hub, 'fleethub_cert_renewals_total{outcome="csr_invalid"}'), bad.length);
    await nothingIssued(hub);
    // The same device with a good CSR still renews: nothing was held against it.
    client.send({ csr: good });
    assert.ok('cert' in (await certReply(client, bad.length + 1)));
    await client.close();
  } finally {
    await hub.stop();
  }
});

test('malformed renewal messages are invalid_message; a frame over maxPayloadBytes closes with 1009', async () => {
  const pki = await makeSigningPki();
  const hub = await startHub({ limits: { maxPayloadBytes: 4096 } }, pki);
  try {
    const client = await connectV2(hub.deviceUrl, pki, await dueDevice(pki, 'rf-malformed'));
    for (const message of [{ csr: 5 }, { csr: null }, { renew: { key: 'x' } }, { renew: [] }, { renew: 'now' }]) client.send(message);
    const nacks = await client.waitForCount((m) => m.nack === null && m.error === 'invalid_message', 5);
    assert.equal(nacks.length, 5);
    assert.equal(client.messages.filter((m) => 'cert' in m || 'certError' in m).length, 0);
    client.send({ csr: 'x'.repeat(5000) });
    assert.equal(await client.waitForClose(), 1009);
    await nothingIssued(hub);
  } finally {
    await hub.stop();
  }
});

test('a device not due yet is not_due with retryAfterMs until its renewal point; allowEarly lets it renew', async () => {
  const pki = await makeSigningPki();
  let hub = await startHub({}, pki);
  try {
    const fresh = await pki.addDevice('rf-fresh');
    const client = await connectV2(hub.deviceUrl, pki, fresh);
    assert.equal(((await client.hello()).cert as { renew: boolean }).renew, false);
    client.send({ csr: csrFor('rf-fresh', deviceKeys()) });
    const refused = await certError(client, 1);
    assert.equal(refused.error, 'not_due');
    // Not before two thirds of its lifetime (a year, the default with renewal on): about eight months from now at the earliest.
    assert.ok((refused.retryAfterMs ?? 0) > 240 * 86_400_000, String(refused.retryAfterMs));
    await client.close();
    await nothingIssued(hub);
    await hub.hub.close();
    hub = await startHub({ renewal: { allowEarly: true } }, pki);
    const early = await connectV2(hub.deviceUrl, pki, fresh);
    early.send({ csr: csrFor('rf-fresh', deviceKeys()) });
    assert.ok('cert' in (await certReply(early)));
    await early.close();
  } finally {
    await hub.stop();
  }
});

test('a renewal flood: past maxRequestsPerConnection each request is invalid_message and counts towards 1008', async () => {
  const pki = await makeSigningPki();
  const hub = await startHub({ renewal: { maxRequestsPerConnection: 2 }, device: { maxInvalidInRow: 3 } }, pki);
  try {
    const client = await connectV2(hub.deviceUrl, pki, await dueDevice(pki, 'rf-flood'));
    const csr = csrFor('rf-flood', deviceKeys());
    client.send({ csr });
    client.send({ csr });
    await certReply(client, 2);
    for (let i = 0; i < 3; i += 1) client.send({ csr });
    assert.equal(await client.waitForClose(), 1008);
    assert.equal(client.messages.filter((m) => m.error === 'invalid_message').length, 3);
    assert.equal((await loadInventory(pki.dir)).pending.length, 1, 'the two allowed requests got one certificate (a repeat)');
  } finally {
    await hub.stop();
  }
});

test('one renewal per device per minInterval: another key within it is rate_limited, and renews once it has passed', async () => {
  const pki = await makeSigningPki();
  const hub = await startHub({ renewal: { minInterval: '1s' } }, pki);
  try {
    const client = await connectV2(hub.deviceUrl, pki, await dueDevice(pki, 'rf-interval'));
    client.send({ csr: csrFor('rf-interval', deviceKeys()) });
    const first = (await certReply(client, 1)).cert as { serial: string };
    client.send({ csr: csrFor('rf-interval', deviceKeys()) });
    const limited = await certError(client, 2);
    assert.equal(limited.error, 'rate_limited');
    assert.ok((limited.retryAfterMs ?? 0) > 0 && (limited.retryAfterMs ?? 0) <= 1000, String(limited.retryAfterMs));
    assert.equal(metricValue(hub.hub, 'fleethub_cert_renewals_total{outcome="rate_limited"}'), 1);
    await sleep((limited.retryAfterMs ?? 0) + 50);
    client.send({ csr: csrFor('rf-interval', deviceKeys()) });
    const second = (await certReply(client, 3)).cert as { serial: string };
    assert.notEqual(second.serial, first.serial);
    // One pending per device: the first, never used, was revoked.
    const inventory = await loadInventory(pki.dir);
    assert.deepEqual(inventory.pending.map((p) => p.serial), [second.serial]);
    assert.equal(inventory.history.find((d) => d.serial === first.serial)?.reason, 'superseded');
    await client.close();
  } finally {
    await hub.stop();
  }
});

test('the hub-wide rate: past perMinute new certificates are rate_limited with retryAfterMs; repeats are not counted', async () => {
  const pki = await makeSigningPki();
  const hub = await startHub({ renewal: { perMinute: 1 } }, pki);
  try {
    const a = await connectV2(hub.deviceUrl, pki, await dueDevice(pki, 'rf-rate-a'));
    const csrA = csrFor('rf-rate-a', deviceKeys());
    a.send({ csr: csrA });
    assert.ok('cert' in (await certReply(a, 1)));
    const b = await connectV2(hub.deviceUrl, pki, await dueDevice(pki, 'rf-rate-b'));
    b.send({ csr: csrFor('rf-rate-b', deviceKeys()) });
    const limited = await certError(b, 1);
    assert.equal(limited.error, 'rate_limited');
    assert.ok((limited.retryAfterMs ?? 0) > 0 && (limited.retryAfterMs ?? 0) <= 60_000, String(limited.retryAfterMs));
    a.send({ csr: csrA });
    assert.ok('cert' in (await certReply(a, 2)), 'a repeat takes no token');
    assert.deepEqual((await loadInventory(pki.dir)).pending.map((p) => p.id), ['rf-rate-a']);
    await a.close();
    await b.close();
  } finally {
    await hub.stop();
  }
});

test('without an issuing CA the hub offers no renewal: no feature, no hello.cert, a csr is invalid_message', async () => {
  const hub = await startHub();
  try {
    const client = await connectV2(hub.deviceUrl, hub.pki, await hub.pki.addDevice('rf-off'));
    const hello = await client.hello();
    assert.ok(!(hello.features ?? []).includes('renew'));
    assert.equal(hello.cert, undefined);
    client.send({ renew: {} });
    await client.waitFor((m) => m.error === 'invalid_message');
    await client.close();
  } finally {
    await hub.stop();
  }
});
