import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SecureVersion } from 'node:tls';
import { metricValue, startHub } from '../helpers/hub.js';
import { waitUntil } from '../helpers/wait.js';
import { connectDevice, DeviceClient, tryConnectDevice, type DeviceClientOptions } from '../helpers/device-client.js';
import { makeTestPki, type DeviceCredentials, type TestPki } from '../helpers/pki.js';
import { createMemoryLogger, SILENT_LOGGER } from '../../src/log.js';
import { TICKET_KEY_BYTES, TICKET_KEY_FILE, TicketKeyFile, ticketLifetimeSeconds } from '../../src/hub/ticket-key-file.js';
import { resolveHubConfig } from '../../src/hub/config.js';

const HOUR_MS = 3_600_000;
/** What an ESP32 (mbedTLS) offers: TLS 1.2, ECDHE-ECDSA with AES-128-GCM. */
const ESP32: Partial<DeviceClientOptions> = { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' };
const TLS13: Partial<DeviceClientOptions> = { minVersion: 'TLSv1.3' };
const PROFILES: ReadonlyArray<[string, Partial<DeviceClientOptions>]> = [['TLS 1.2 (ESP32)', ESP32], ['TLS 1.3', TLS13]];

let pki: TestPki;
before(async () => {
  pki = await makeTestPki();
});
after(async () => {
  await pki.cleanup();
});

function options(url: string, creds: DeviceCredentials, extra: Partial<DeviceClientOptions>): DeviceClientOptions {
  return { url, ca: pki.ca, cert: creds.cert, key: creds.key, ...extra };
}

/** The same for a device of another test PKI. */
function optionsOf(own: TestPki, url: string, creds: DeviceCredentials, extra: Partial<DeviceClientOptions>): DeviceClientOptions {
  return { ...options(url, creds, extra), ca: own.ca };
}

/**
 * A hub started as if its process had another command line (another
 * hub's `--config`): Node's default TLS session-id context is a hash of
 * `process.argv`, and a session resumes only within one context.
 */
async function startHubWithArgs(args: readonly string[], own: TestPki): ReturnType<typeof startHub> {
  const saved = process.argv;
  process.argv = [saved[0]!, saved[1]!, ...args];
  try {
    return await startHub({}, own);
  } finally {
    process.argv = saved;
  }
}

/** Connects, takes the TLS session the hub gave (TLS 1.3 tickets come after the handshake: waits for one). */
async function sessionFrom(url: string, creds: DeviceCredentials, extra: Partial<DeviceClientOptions>, own = pki): Promise<Buffer> {
  const client = await connectDevice(optionsOf(own, url, creds, extra));
  await client.hello();
  await waitUntil(() => client.session !== undefined, 'the hub sent a session ticket');
  const session = client.session!;
  await client.close();
  return session;
}

test('a restarted hub, or another hub on the same PKI folder, resumes the TLS sessions of the one before', async () => {
  const creds = await pki.addDevice('tk-resume');
  const first = await startHub({}, pki);
  const sessions = new Map<string, Buffer>();
  try {
    for (const [name, profile] of PROFILES) sessions.set(name, await sessionFrom(first.deviceUrl, creds, profile));
  } finally {
    await first.stop();
  }
  const second = await startHubWithArgs(['serve', '--config', 'hub-b.json'], pki);
  try {
    for (const [name, profile] of PROFILES) {
      const client = await connectDevice(options(second.deviceUrl, creds, { ...profile, session: sessions.get(name)! }));
      assert.equal(client.socket.isSessionReused(), true, `${name}: resumed on the new hub`);
      assert.equal(client.socket.getProtocol(), (profile.maxVersion ?? profile.minVersion) as SecureVersion);
      assert.equal((await client.hello()).device, 'tk-resume');
      client.sendSeqs([1]);
      await client.waitForAck(1);
      await client.close();
    }
    assert.equal(metricValue(second.hub, 'fleethub_tls_handshakes_total{result="resumed"}'), 2);
    assert.equal(metricValue(second.hub, 'fleethub_tls_handshakes_total{result="full"}'), 0);
  } finally {
    await second.stop();
  }
});

test('sessions still resume on a hub that has reloaded its CRL', async () => {
  const creds = await pki.addDevice('tk-crl-reload');
  await pki.addDevice('tk-crl-other');
  const first = await startHub({}, pki);
  const session = await sessionFrom(first.deviceUrl, creds, ESP32).finally(() => first.stop());
  const th = await startHubWithArgs(['serve', '--config', 'hub-c.json'], pki);
  try {
    // A reload builds a new TLS context (setSecureContext): the session-id context and the ticket key must survive it.
    await pki.revoke('tk-crl-other');
    await th.hub.checkRevocation();
    assert.match(th.hub.metrics.render(), /^fleethub_crl_reloads_total [1-9]/m);
    const client = await connectDevice(options(th.deviceUrl, creds, { ...ESP32, session }));
    assert.equal(client.socket.isSessionReused(), true);
    await client.close();
  } finally {
    await th.stop();
  }
});

test('a revoked device cannot resume its session on a new hub either', async () => {
  const creds = await pki.addDevice('tk-revoked');
  const first = await startHub({}, pki);
  const sessions: Buffer[] = [];
  try {
    for (const [, profile] of PROFILES) sessions.push(await sessionFrom(first.deviceUrl, creds, profile));
  } finally {
    await first.stop();
  }
  await pki.revoke('tk-revoked');
  const second = await startHub({}, pki);
  try {
    for (const [i, [name, profile]] of PROFILES.entries()) {
      const result = await tryConnectDevice(options(second.deviceUrl, creds, { ...profile, session: sessions[i]! }));
      assert.ok(!(result instanceof DeviceClient), `${name}: refused`);
    }
    // Both came through resumption (no certificate check by OpenSSL) and were stopped by the hub's own CRL check.
    assert.equal(metricValue(second.hub, 'fleethub_tls_handshake_failures_total{reason="revoked_resumed"}'), 2);
  } finally {
    await second.stop();
  }
});

test('ticket.keys: made on first start, 0600, 48 bytes, kept by the next hub', async () => {
  const scratch = await makeTestPki();
  try {
    const path = join(scratch.dir, TICKET_KEY_FILE);
    const th = await startHub({}, scratch);
    const key = readFileSync(path);
    await th.stop();
    assert.equal(key.length, TICKET_KEY_BYTES);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const again = await startHub({}, scratch);
    await again.stop();
    assert.deepEqual(readFileSync(path), key);
    // A damaged key file stops the start with a clear error.
    writeFileSync(path, 'short');
    await assert.rejects(startHub({}, scratch), { code: 'FH_ERR_PKI_IO', message: /ticket\.keys must hold 48 random bytes/ });
  } finally {
    await scratch.cleanup();
  }
});

test('rotation: a key older than ticketKeyRotationHours is replaced, every hub loads it, and older tickets stop resuming', async () => {
  const scratch = await makeTestPki();
  try {
    const creds = await scratch.addDevice('tk-rotate');
    const path = join(scratch.dir, TICKET_KEY_FILE);
    const a = await startHub({}, scratch);
    const b = await startHub({}, scratch);
    try {
      const old = await sessionFrom(a.deviceUrl, creds, ESP32, scratch);
      const before = readFileSync(path);
      // A day and a bit later, as far as the key's age goes.
      const aged = (Date.now() - 25 * HOUR_MS) / 1000;
      utimesSync(path, aged, aged);
      await a.hub.checkRevocation();
      await b.hub.checkRevocation();
      assert.ok(!readFileSync(path).equals(before), 'the key was replaced');
      const stale = await connectDevice(optionsOf(scratch, b.deviceUrl, creds, { ...ESP32, session: old }));
      assert.equal(stale.socket.isSessionReused(), false, 'a ticket of the old key does not resume');
      await stale.close();
      const fresh = await sessionFrom(a.deviceUrl, creds, ESP32, scratch);
      const moved = await connectDevice(optionsOf(scratch, b.deviceUrl, creds, { ...ESP32, session: fresh }));
      assert.equal(moved.socket.isSessionReused(), true, 'both hubs use the new key');
      await moved.close();
    } finally {
      await a.stop();
      await b.stop();
    }
  } finally {
    await scratch.cleanup();
  }
});

test('TicketKeyFile: rotates only when due, never with 0 hours, reloads a replaced file, keeps its key over a bad one', async () => {
  const scratch = await makeTestPki();
  try {
    const path = join(scratch.dir, TICKET_KEY_FILE);
    const changes: Buffer[] = [];
    const log = createMemoryLogger();
    const file = new TicketKeyFile(scratch.dir, { rotationHours: 24, onChange: (k) => changes.push(k), log });
    const first = file.key;
    file.check();
    assert.equal(changes.length, 0, 'a fresh key is not rotated');
    const dayOld = (Date.now() - 24 * HOUR_MS - 1000) / 1000;
    utimesSync(path, dayOld, dayOld);
    file.check();
    assert.equal(changes.length, 1);
    assert.ok(!changes[0]!.equals(first));
    assert.deepEqual(readFileSync(path), changes[0]);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.ok(log.lines.some((l) => / info tls\.ticket_key_rotated /.test(l)));

    // 0 hours: never rotated by a hub, however old.
    const never = new TicketKeyFile(scratch.dir, { rotationHours: 0, onChange: (k) => changes.push(k), log: SILENT_LOGGER });
    const ancient = (Date.now() - 1000 * HOUR_MS) / 1000;
    utimesSync(path, ancient, ancient);
    const kept = readFileSync(path);
    never.check();
    assert.deepEqual(readFileSync(path), kept);
    assert.equal(changes.length, 1);

    // An operator's (or another hub's) new key is loaded.
    const next = Buffer.alloc(TICKET_KEY_BYTES, 9);
    writeFileSync(path, next);
    never.check();
    assert.deepEqual(changes.at(-1), next);
    assert.deepEqual(never.key, next);

    // A damaged file: reported once, the key in use stays.
    const errors = createMemoryLogger();
    const guarded = new TicketKeyFile(scratch.dir, { rotationHours: 0, onChange: () => assert.fail('no change to a bad key'), log: errors });
    writeFileSync(path, 'oops');
    guarded.check();
    guarded.check();
    assert.deepEqual(guarded.key, next);
    assert.equal(errors.lines.filter((l) => / error tls\.ticket_key_invalid /.test(l)).length, 1, errors.lines.join('\n'));
  } finally {
    await scratch.cleanup();
  }
});

test('config: device.ticketKeyRotationHours defaults to 24, 0 turns rotation off, at most 168 (a ticket\'s lifetime, RFC 8446)', () => {
  const resolve = (device: unknown): number => resolveHubConfig({ device }, { baseDir: '/tmp' }).hub.device.ticketKeyRotationHours;
  assert.equal(resolve({}), 24);
  assert.equal(resolve({ ticketKeyRotationHours: 0 }), 0);
  assert.equal(resolve({ ticketKeyRotationHours: 168 }), 168);
  assert.throws(() => resolve({ ticketKeyRotationHours: 169 }), /device\.ticketKeyRotationHours must be an integer from 0 to 168/);
  assert.equal(ticketLifetimeSeconds(24), 86_400);
  assert.equal(ticketLifetimeSeconds(0), 168 * 3600);
});
