/**
 * Certificate renewal in the C client (SPEC: Device protocol version 2),
 * the Linux example against a real hub that signs with an issuing CA: a due
 * device makes a P-256 key and request with mbedTLS, stores the new pair
 * beside the old one, reconnects with it, and the hub supersedes the old
 * certificate after that first handshake; `{"renew":{}}` keeps the key; a
 * power cut (SIGKILL from the example's test hook) between the key and the
 * certificate leaves the old identity working and the next run completes the
 * same renewal; a new pair the hub refuses falls back to the old one; a
 * `certError` is reported with its code and retry time.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startHub, waitUntil, type TestHub } from '../helpers/hub.js';
import type { DeviceCredentials, TestPki } from '../helpers/pki.js';
import { parseCrl } from '../../src/pki/index.js';
import { loadInventory } from '../../src/pki/inventory.js';
import { currentSerial, dueDevice, issuingCrl, makeSigningPki } from '../hub/renewal-fixture.js';
import { deviceFiles, makeFirmware, reapDevice, spawnDevice, type DeviceFiles, type DeviceProcess } from './device-process.js';
import { assertContiguousOnce, storedSeqs } from './stored-seqs.js';

before(() => makeFirmware());

const STREAM = ['--protocol', '2', '--count', '100000', '--interval-ms', '100'];

function serialOf(pem: string | Buffer): string {
  return new X509Certificate(pem).serialNumber.toUpperCase();
}

/** The value after `key=` in the first line matching `prefix` (hex serials upper-cased). */
function field(device: DeviceProcess, prefix: string, key: string): string {
  const line = device.lines().find((l) => l.startsWith(prefix));
  const match = line === undefined ? null : new RegExp(`${key}=(\\S+)`).exec(line);
  assert.ok(match?.[1] !== undefined, `a "${prefix}" line with ${key}=; output:\n${device.output()}`);
  return match[1].toUpperCase();
}

/** Lines after the first one matching `pattern`. */
function linesAfter(device: DeviceProcess, pattern: RegExp): string[] {
  const lines = device.lines();
  const at = lines.findIndex((l) => pattern.test(l));
  return at < 0 ? [] : lines.slice(at + 1);
}

/** Resolves once an `ack N` line comes after the first line matching `pattern`. */
async function ackAfter(device: DeviceProcess, pattern: RegExp): Promise<void> {
  await waitUntil(() => {
    if (device.child.exitCode !== null || device.child.signalCode !== null) throw new Error(`the device exited:\n${device.output()}`);
    return linesAfter(device, pattern).some((l) => /^ack \d+$/.test(l));
  }, `an ack after ${pattern}`, 60_000);
}

/** A hub with an issuing CA and its devices, ended in order: devices, hub, then the folders (a hub mid-commit keeps its PKI folder). */
interface Rig {
  pki: TestPki;
  hub: TestHub;
  url: string;
  /** Starts fleethub-device with `args` (and `env`); ended with the rig. */
  run(args: readonly string[], env?: Readonly<Record<string, string>>): DeviceProcess;
}

async function rig(t: { after(fn: () => unknown): void }, renewal: Readonly<Record<string, unknown>> = {}): Promise<Rig> {
  const pki = await makeSigningPki();
  const devices: DeviceProcess[] = [];
  let hub: TestHub | undefined;
  t.after(async () => {
    for (const device of devices) await reapDevice(device);
    await hub?.stop();
    await pki.cleanup();
  });
  hub = await startHub({ limits: { msgsPerSec: 10_000, burst: 10_000 }, renewal }, pki);
  return {
    pki, hub, url: `wss://localhost:${hub.devicePort}/v1/device`,
    run(args, env = {}) {
      const device = spawnDevice(args, undefined, env);
      devices.push(device);
      return device;
    },
  };
}

/** A device of `r` with PEM files for `creds` (its --state folder removed with the rig). */
async function filesFor(t: { after(fn: () => unknown): void }, r: Rig, creds: DeviceCredentials): Promise<DeviceFiles> {
  const files = await deviceFiles(r.pki.ca, creds);
  t.after(() => files.cleanup());
  return files;
}

function deviceArgs(r: Rig, files: DeviceFiles, extra: readonly string[]): string[] {
  return ['--url', r.url, '--ca', files.ca, '--cert', files.cert, '--key', files.key, '--state', files.state, ...extra];
}

/** The renewed certificate is current in the inventory and the old one is on the issuing CA's CRL as superseded. */
async function assertSuperseded(pki: TestPki, id: string, oldSerial: string, newSerial: string): Promise<void> {
  await waitUntil(async () => (await currentSerial(pki, id))?.toUpperCase() === newSerial, 'the renewed certificate becomes current', 60_000);
  await waitUntil(async () => parseCrl(await issuingCrl(pki)).serials.has(oldSerial), 'the previous certificate is on the CRL', 60_000);
  const history = (await loadInventory(pki.dir)).history.find((d) => d.serial.toUpperCase() === oldSerial);
  assert.equal(history?.reason, 'superseded');
}

/** A device 300 days into a 330-day certificate from the issuing CA (due), with its files. */
async function dueFiles(t: { after(fn: () => unknown): void }, r: Rig, id: string): Promise<{ files: DeviceFiles; oldSerial: string }> {
  const old = await dueDevice(r.pki, id);
  return { files: await filesFor(t, r, old), oldSerial: serialOf(old.cert) };
}

test('a due device renews with a key made by mbedTLS, reconnects with the new certificate; the old one is superseded after that handshake', async (t) => {
  const r = await rig(t);
  const { files, oldSerial } = await dueFiles(t, r, 'fw-renew');
  const device = r.run(deviceArgs(r, files, [...STREAM, '--renew', 'new-key']));
  await device.waitForLine(/^hello cert serial=\S+ notAfter=\d+ renew=true$/);
  assert.equal(field(device, 'hello cert', 'serial'), oldSerial);
  await device.waitForLine(/^renewing csr$/);
  await device.waitForLine(/^cert_received /);
  const received = field(device, 'cert_received', 'serial');
  // Stored before the reconnect, in the other slot, with a key that never left the device.
  const stored = await readFile(join(files.state, 'cred-1.crt'), 'utf8');
  assert.equal(serialOf(stored), received);
  assert.match(new X509Certificate(stored).subject, /CN=fw-renew/);
  assert.notEqual(await readFile(join(files.state, 'cred-1.key'), 'utf8'), await readFile(files.key, 'utf8'), 'a new key');
  await device.waitForLine(/^renewed serial=/);
  assert.equal(field(device, 'renewed', 'serial'), received);
  // The renewed event comes with the new connection's hello, before its lines are printed: wait for them.
  await waitUntil(() => device.lines().filter((l) => l.startsWith('hello cert ')).length >= 2, 'the second hello', 60_000);
  const second = device.lines().filter((l) => l.startsWith('hello cert '))[1] ?? '';
  assert.match(second, new RegExp(`^hello cert serial=${received} notAfter=\\d+ renew=false$`, 'i'), device.output());
  // What it prints is what it does: the new certificate's connection is made at once, not after a backoff.
  const sinceCert = device.lines().slice(device.lines().findIndex((l) => l.startsWith('cert_received ')));
  const untilRenewed = sinceCert.slice(0, sinceCert.findIndex((l) => l.startsWith('renewed ')));
  assert.deepEqual(untilRenewed.filter((l) => l.startsWith('close ') || l.startsWith('retry in ')), ['close 1000', 'retry in 0 ms'], device.output());
  await ackAfter(device, /^renewed /);
  await assertSuperseded(r.pki, 'fw-renew', oldSerial, received);
  // The state byte: slot 1 current, nothing pending, accepted (no trial bit).
  assert.deepEqual([...(await readFile(join(files.state, 'cred.state')))], [0x02]);
  await reapDevice(device);

  // A later run starts from --state's pair, the renewed one, and streams on without loss or duplicates.
  const again = r.run(deviceArgs(r, files, ['--protocol', '2', '--renew', 'new-key', '--count', '3', '--interval-ms', '0']));
  assert.deepEqual(await again.exited, { code: 0, signal: null }, again.output());
  assert.ok(again.lines().includes('credentials from state'), again.output());
  assert.equal(field(again, 'hello cert', 'serial'), received);
  assert.ok(!again.lines().some((l) => l.startsWith('renewing')), 'a fresh certificate is not renewed');
  assertContiguousOnce(await storedSeqs(r.hub.hub.store, 'fw-renew'), 3);
});

test('{"renew":{}} keeps the key: a new certificate for the same key, stored with a copy of it', async (t) => {
  const r = await rig(t);
  const { files, oldSerial } = await dueFiles(t, r, 'fw-renew-same');
  const device = r.run(deviceArgs(r, files, [...STREAM, '--renew', 'same-key']));
  await device.waitForLine(/^renewing renew$/);
  await device.waitForLine(/^renewed serial=/);
  const received = field(device, 'renewed', 'serial');
  await ackAfter(device, /^renewed /);
  const oldCert = new X509Certificate(await readFile(files.cert));
  const newCert = new X509Certificate(await readFile(join(files.state, 'cred-1.crt')));
  assert.equal(newCert.serialNumber.toUpperCase(), received);
  assert.ok(newCert.publicKey.equals(oldCert.publicKey), 'the same key');
  assert.equal(await readFile(join(files.state, 'cred-1.key'), 'utf8'), await readFile(join(files.state, 'cred-0.key'), 'utf8'));
  await assertSuperseded(r.pki, 'fw-renew-same', oldSerial, received);
});

test('a power cut after the new key is kept and before its certificate is: the old identity works, the next run completes the same renewal', async (t) => {
  const r = await rig(t);
  const { files, oldSerial } = await dueFiles(t, r, 'fw-renew-cut');
  const args = deviceArgs(r, files, [...STREAM, '--renew', 'new-key']);
  const cut = r.run(args, { FLEETHUB_DEVICE_POWER_CUT: 'before-cert' });
  assert.deepEqual(await cut.exited, { code: null, signal: 'SIGKILL' }, cut.output());
  assert.ok(cut.lines().includes('power cut before-cert'), cut.output());
  // The hub issued a pending certificate; the device kept the key and named it pending, nothing more.
  const pending = (await loadInventory(r.pki.dir)).pending.find((p) => p.id === 'fw-renew-cut');
  assert.ok(pending !== undefined, 'a pending certificate');
  assert.deepEqual([...(await readFile(join(files.state, 'cred.state')))], [0x01 | (0x02 << 2)], 'slot 0 current, slot 1 pending');
  await assert.rejects(readFile(join(files.state, 'cred-1.crt')));
  // Issued but never used in a handshake: the old certificate is still current and on no CRL.
  assert.equal((await currentSerial(r.pki, 'fw-renew-cut'))?.toUpperCase(), oldSerial);
  assert.ok(!parseCrl(await issuingCrl(r.pki)).serials.has(oldSerial));

  const next = r.run(args);
  await next.waitForLine(/^hello cert /);
  assert.equal(field(next, 'hello cert', 'serial'), oldSerial, 'back on the old identity');
  await next.waitForLine(/^renewed serial=/);
  await next.waitForLine(/^cert_received /);
  // The same key again: the hub's identical repeat, the same certificate.
  assert.equal(field(next, 'cert_received', 'serial'), pending.serial.toUpperCase());
  assert.equal(field(next, 'renewed', 'serial'), pending.serial.toUpperCase());
  await ackAfter(next, /^renewed /);
  await assertSuperseded(r.pki, 'fw-renew-cut', oldSerial, pending.serial.toUpperCase());
  await reapDevice(next);
  const seen = await storedSeqs(r.hub.hub.store, 'fw-renew-cut');
  for (const [seq, times] of seen) assert.equal(times, 1, `seq ${seq} stored once`);
});

test('a renewed pair the hub refuses falls back to the old one, which keeps streaming', async (t) => {
  const r = await rig(t);
  const { files, oldSerial } = await dueFiles(t, r, 'fw-renew-back');
  const args = deviceArgs(r, files, [...STREAM, '--renew', 'new-key']);
  const cut = r.run(args, { FLEETHUB_DEVICE_POWER_CUT: 'after-state' });
  assert.deepEqual(await cut.exited, { code: null, signal: 'SIGKILL' }, cut.output());
  assert.deepEqual([...(await readFile(join(files.state, 'cred.state')))], [0x02 | 0x10], 'slot 1 current on trial');
  // The new pair is replaced by one the hub does not trust (another CA): its handshake is refused.
  const stranger = await r.pki.otherCaDevice('fw-renew-back');
  await writeFile(join(files.state, 'cred-1.crt'), stranger.cert);
  await writeFile(join(files.state, 'cred-1.key'), stranger.key, { mode: 0o600 });

  const next = r.run(args);
  await next.waitForLine(/^renew_fell_back refused$/);
  assert.ok(next.lines().some((l) => l.startsWith('connect_failed') && l.endsWith(' refused')), next.output());
  await next.waitForLine(/^hello cert /);
  assert.equal(field(next, 'hello cert', 'serial'), oldSerial);
  await ackAfter(next, /^hello cert /);
  assert.deepEqual([...(await readFile(join(files.state, 'cred.state')))], [0x01], 'slot 0 current again');
  assert.equal((await currentSerial(r.pki, 'fw-renew-back'))?.toUpperCase(), oldSerial);
  assert.ok(!next.lines().some((l) => l.startsWith('renewing')), 'no renewal again in this run');
});

test('a certError is reported with its code and retry time, and the device streams on with its certificate', async (t) => {
  const r = await rig(t);
  const files = await filesFor(t, r, await r.pki.addDevice('fw-renew-early'));
  const device = r.run(deviceArgs(r, files, [...STREAM, '--renew', 'new-key', '--renew-now']));
  const line = await device.waitForLine(/^cert_error /);
  const match = /^cert_error not_due retryAfterMs=(\d+)$/.exec(line);
  assert.ok(match !== null, line);
  assert.ok(Number(match[1]) > 0, 'the time until it is due');
  await ackAfter(device, /^cert_error /);
  await reapDevice(device);
  assert.ok(!device.lines().some((l) => l.startsWith('cert_received') || l.startsWith('renew_failed')), device.output());
  assert.equal(device.lines().filter((l) => l.startsWith('renewing')).length, 1, 'not_due is not asked again');
  assert.equal((await loadInventory(r.pki.dir)).pending.length, 0, 'nothing issued');
  const seen = await storedSeqs(r.hub.hub.store, 'fw-renew-early');
  for (const [seq, times] of seen) assert.equal(times, 1, `seq ${seq} stored once`);
});

test('rate_limited is asked again after its retryAfterMs, with the same key, and the renewal completes', async (t) => {
  const r = await rig(t, { minInterval: '10s', allowEarly: true });
  const files = await filesFor(t, r, await r.pki.addDevice('fw-renew-again'));
  const args = deviceArgs(r, files, [...STREAM, '--renew', 'new-key', '--renew-now']);
  const first = r.run(args);
  await first.waitForLine(/^renewed serial=/);
  await reapDevice(first);
  // At once again: another key within minInterval is refused until it has passed.
  const second = r.run(args);
  const refused = /^cert_error rate_limited retryAfterMs=(\d+)$/.exec(await second.waitForLine(/^cert_error /));
  assert.ok(refused !== null && Number(refused[1]) > 0 && Number(refused[1]) <= 10_000, second.output());
  // The key asked for, kept before the request (slot 0: the first run's renewal made slot 1 current).
  const askedKey = createPublicKey(await readFile(join(files.state, 'cred-0.key'), 'utf8'));
  await second.waitForLine(/^renewed serial=/);
  const asked = second.lines().filter((l) => l === 'renewing csr').length;
  assert.equal(asked, 2, 'asked twice: once refused, once after the wait');
  assert.notEqual(field(second, 'renewed', 'serial'), field(first, 'renewed', 'serial'));
  assert.ok(new X509Certificate(await readFile(join(files.state, 'cred-0.crt'))).publicKey.equals(askedKey), 'the same key');
  await ackAfter(second, /^renewed /);
});
