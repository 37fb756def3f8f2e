/**
 * The CRL watcher on its own, fed by a source that is not a file (as the
 * cluster will feed it): it pushes new CRLs without being asked, and the
 * watcher's answers, callbacks, refusals and expiry follow. CRLs are real,
 * signed by a CA made by src/pki; the clock is the test's.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { SecureContextOptions } from 'node:tls';
import { loadCa, pkiPaths } from '../../src/pki/index.js';
import { buildCrl } from '../../src/pki/crl.js';
import type { Issuer } from '../../src/pki/certificate.js';
import { CrlWatcher, type LiveDevice } from '../../src/hub/crl-watcher.js';
import { crlReplacementRefusal, crlStateOf, NO_CRL } from '../../src/hub/crl-state.js';
import { loadDeviceTlsMaterial, type DeviceTlsMaterial } from '../../src/hub/device-tls.js';
import { HubMetrics } from '../../src/hub/hub-metrics.js';
import type { TextSource } from '../../src/hub/text-source.js';
import { MetricsRegistry } from '../../src/metrics.js';
import type { StoreStats } from '../../src/store/types.js';
import { createMemoryLogger } from '../../src/log.js';
import { makeTestPki, type TestPki } from '../helpers/pki.js';

const DAY_MS = 86_400_000;
let pki: TestPki;
let issuer: Issuer;
let material: DeviceTlsMaterial;

before(async () => {
  pki = await makeTestPki();
  issuer = (await loadCa(pki.dir)).issuer;
  material = await loadDeviceTlsMaterial(pki.dir);
});
after(async () => {
  await pki.cleanup();
});

/** A source that holds its text in memory and pushes changes, like a cluster key. */
class PushedText implements TextSource {
  readonly name = 'memory:crl';
  #text: string | null;
  #listener: ((text: string | null) => void) | null = null;
  closed = false;
  constructor(text: string | null) {
    this.#text = text;
  }
  async read(): Promise<string | null> {
    return this.#text;
  }
  watch(listener: (text: string | null) => void): void {
    this.#listener = listener;
  }
  async check(): Promise<void> {}
  async close(): Promise<void> {
    this.closed = true;
  }
  publish(text: string | null): void {
    this.#text = text;
    this.#listener?.(text);
  }
}

function crl(number: number, serials: string[], nextUpdateMs = Date.now() + 365 * DAY_MS): string {
  const entries = serials.map((serial) => ({ serial, revokedAt: new Date(), reason: 'keyCompromise' as const }));
  return buildCrl(issuer, entries, { number, thisUpdate: new Date(nextUpdateMs - 2 * DAY_MS), nextUpdate: new Date(nextUpdateMs) });
}

function setUp(first: string | null, now: () => number = Date.now) {
  const source = new PushedText(first);
  const log = createMemoryLogger();
  const registry = new MetricsRegistry();
  const metrics = new HubMetrics(registry, { storeStats: () => ({ bytes: 0, segments: 0, readings: 0, fsyncs: 0, fsyncSeconds: 0, lastFsyncMs: 0 }) as StoreStats, openSockets: () => 0, devicesOnline: () => 0, unreadReplyBytes: () => 0, readsPausedNow: () => 0 });
  const live: LiveDevice[] = [];
  const revoked: string[] = [];
  const contexts: SecureContextOptions[] = [];
  const watcher = new CrlWatcher({
    source, checkMs: 60_000, metrics, log, now,
    live: () => live,
    onRevoked: (d) => revoked.push(d.device),
    onContextChange: (options) => contexts.push(options),
  });
  const metric = (line: string): number => {
    const found = registry.render().split('\n').find((l) => l.startsWith(`${line} `));
    return found === undefined ? 0 : Number(found.slice(line.length + 1));
  };
  return { source, log, watcher, live, revoked, contexts, metric };
}

test('a pushed CRL takes effect without a poll: isRevoked, onRevoked for live devices, new TLS options', async () => {
  const a = await pki.addDevice('watch-a');
  const b = await pki.addDevice('watch-b');
  const serialA = new X509Certificate(a.cert).serialNumber;
  const serialB = new X509Certificate(b.cert).serialNumber;
  const first = crl(5, []);
  const w = setUp(first);
  await w.watcher.start(material);
  assert.equal(w.watcher.isRevoked(serialA), false);
  assert.equal(w.watcher.secureContextOptions().crl, first);
  w.live.push({ device: 'watch-a', serial: serialA }, { device: 'watch-b', serial: serialB });
  const next = crl(6, [serialA]);
  w.source.publish(next);
  assert.equal(w.watcher.isRevoked(serialA), true);
  assert.equal(w.watcher.isRevoked(serialB), false);
  assert.deepEqual(w.revoked, ['watch-a']);
  assert.equal(w.contexts.length, 1);
  assert.equal(w.contexts[0]?.crl, next);
  assert.equal(w.watcher.number, 6);
  assert.equal(w.metric('fleethub_crl_number'), 6);
  assert.equal(w.metric('fleethub_crl_reloads_total'), 1);
  await w.watcher.close();
  assert.equal(w.source.closed, true);
});

test('refused: older, same number with other content, invalid, gone; the loaded CRL stays', async () => {
  const loaded = crl(10, ['0A']);
  const w = setUp(loaded);
  await w.watcher.start(material);
  const crlPem = await readFile(pkiPaths(pki.dir).crl, 'utf8'); // the PKI's own CRL: a lower number
  w.source.publish(crlPem);
  w.source.publish(crl(9, []));
  w.source.publish(crl(10, []));
  w.source.publish('-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n');
  w.source.publish(null);
  w.source.publish(loaded); // a re-send of the loaded text: nothing to do
  assert.equal(w.watcher.isRevoked('0A'), true);
  assert.equal(w.watcher.number, 10);
  assert.equal(w.contexts.length, 0);
  assert.equal(w.metric('fleethub_crl_refused_total{reason="older"}'), 2);
  assert.equal(w.metric('fleethub_crl_refused_total{reason="same_number"}'), 1);
  assert.equal(w.metric('fleethub_crl_refused_total{reason="invalid"}'), 1);
  assert.equal(w.metric('fleethub_crl_refused_total{reason="missing"}'), 1);
  assert.equal(w.log.lines.filter((l) => / error crl\.refused /.test(l)).length, 3, w.log.lines.join('\n'));
  w.source.publish(crl(11, []));
  assert.equal(w.watcher.isRevoked('0A'), false, 'a newer CRL may unrevoke (fleethub never does, another CA tool might)');
  await w.watcher.close();
});

test('crlReplacementRefusal: only a higher number replaces a numbered CRL', () => {
  const numbered = crlStateOf(crl(3, []));
  const unnumbered = { ...numbered, number: null };
  assert.equal(crlReplacementRefusal(NO_CRL, numbered), null);
  assert.equal(crlReplacementRefusal(numbered, crlStateOf(crl(4, []))), null);
  assert.equal(crlReplacementRefusal(numbered, crlStateOf(crl(2, []))), 'older');
  assert.equal(crlReplacementRefusal(numbered, crlStateOf(crl(3, ['01']))), 'same_number');
  assert.equal(crlReplacementRefusal(numbered, unnumbered), 'unnumbered');
  assert.equal(crlReplacementRefusal(unnumbered, numbered), null);
});

test('a loaded CRL that expires as time passes leaves the TLS options, and stays enforced', async () => {
  let now = Date.now();
  const pem = crl(2, ['0B'], now + DAY_MS);
  const w = setUp(pem, () => now);
  await w.watcher.start(material);
  assert.equal(w.watcher.secureContextOptions().crl, pem);
  now += 2 * DAY_MS;
  await w.watcher.check();
  assert.equal(w.contexts.length, 1);
  assert.equal(w.contexts[0]?.crl, undefined, 'OpenSSL would refuse every device with an expired CRL');
  assert.equal(w.watcher.isRevoked('0B'), true);
  assert.equal(w.metric('fleethub_crl_expired'), 1);
  await w.watcher.close();
});
