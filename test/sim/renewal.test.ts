/**
 * The simulator renews when told (SPEC: Simulator): provisioned through
 * `/v1/provision` with `--claim`, then with `--renew` every device makes a
 * new P-256 key and CSR while streaming, reconnects with its new certificate,
 * and the run ends with zero lost; the hub made each new certificate current
 * and revoked the old one. And a device whose new certificate fails in the
 * handshake falls back to the old one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startHub } from '../helpers/hub.js';
import { runCli } from '../helpers/cli.js';
import { parseCrl, pkiPaths } from '../../src/pki/index.js';
import { loadInventory } from '../../src/pki/inventory.js';
import { SILENT_LOGGER } from '../../src/log.js';
import { fleetIds } from '../../firmware-sim/device-credentials.js';
import { runSim } from '../../firmware-sim/sim-run.js';
import { CertRenewal } from '../../firmware-sim/cert-renewal.js';
import { FleetStats } from '../../firmware-sim/fleet-stats.js';
import { parseHubMessage } from '../../firmware-sim/hub-messages.js';
import { makeSigningPki } from '../hub/renewal-fixture.js';

const DEVICES = 50;

function sink(): Writable & { text: string } {
  const stream = new Writable({
    write(chunk, _enc, done) {
      stream.text += String(chunk);
      done();
    },
  }) as Writable & { text: string };
  stream.text = '';
  return stream;
}

test(`sim --claim --renew: ${DEVICES} devices provision, stream, renew while streaming and reconnect with the new certificate, zero lost`, async () => {
  const pki = await makeSigningPki();
  try {
    const idsFile = join(pki.dir, 'ids.txt');
    await writeFile(idsFile, `${fleetIds('rn-sim-', DEVICES).join('\n')}\n`);
    const batch = await runCli(['provision', 'batch', 'add', 'line-9', '--ids-file', idsFile, '--pki', pki.dir]);
    assert.equal(batch.code, 0, batch.stderr);
    const hub = await startHub({ renewal: { allowEarly: true } }, pki);
    try {
      const out = sink();
      const result = await runSim(
        { url: hub.deviceUrl, pkiDir: pki.dir, claim: 'line-9', prefix: 'rn-sim-', devices: DEVICES, rate: 2, duration: '4s', drainTimeout: '30s', renew: true, progress: false },
        { out, err: sink(), logger: SILENT_LOGGER, backoff: { initialMs: 100, maxMs: 2000 } },
      );
      assert.equal(result.failure, null, out.text);
      const { renewals, messages, devices } = result.report;
      assert.equal(renewals.renewed, DEVICES, out.text);
      assert.equal(renewals.fellBack, 0);
      assert.equal(messages.lost, 0);
      assert.equal(messages.unsent, 0);
      assert.ok(messages.acked > 0);
      assert.equal(devices.connected, DEVICES);
      assert.match(out.text, new RegExp(`^certificates renewed\\s+${DEVICES} `, 'm'));
      assert.match(out.text, /PASS: zero lost/);
    } finally {
      await hub.stop();
    }
    // Every device is on its renewed certificate and the one it was provisioned with is revoked.
    const inventory = await loadInventory(pki.dir);
    const current = inventory.devices.filter((d) => d.id.startsWith('rn-sim-'));
    assert.equal(current.length, DEVICES);
    assert.ok(current.every((d) => d.renewedAt !== undefined), 'every current certificate came from a renewal');
    assert.equal(inventory.pending.length, 0);
    const provisionedSerials = inventory.provisioned.map((p) => p.serial);
    const crl = parseCrl(await readFile(pkiPaths(pki.dir).issuingCrl, 'utf8'));
    assert.ok(provisionedSerials.every((s) => crl.serials.has(s)), 'every provisioned certificate superseded and on the CRL');
    // With renewal on, provisioned certificates last a year (provisioning.deviceDays not set), renewed ones too.
    for (const d of [...inventory.history.filter((h) => provisionedSerials.includes(h.serial)), ...current]) {
      const days = (Date.parse(d.notAfter) - Date.parse(d.notBefore)) / 86_400_000;
      assert.ok(days > 364 && days < 366, `${d.id} ${d.serial}: ${days} days`);
    }
  } finally {
    await pki.cleanup();
  }
});

test('a simulated device falls back to its old certificate when the new one fails in the handshake', () => {
  const stats = new FleetStats();
  const old = { cert: 'OLD CERT', key: 'OLD KEY' };
  const renewed: string[] = [];
  const renewal = new CertRenewal({ id: 'fb-1', initial: old, force: false, stats, logger: SILENT_LOGGER, onRenewed: (id) => renewed.push(id) });
  const hello = parseHubMessage(JSON.stringify({
    hello: { device: 'fb-1', lastSeq: null, limits: { maxPayloadBytes: 4096, msgsPerSec: 10, burst: 10 }, protocol: 2, features: ['renew'], cert: { serial: 'AA', notAfter: 1, renew: true } },
  }));
  assert.equal(hello.type, 'hello');
  if (hello.type !== 'hello') return;
  const sent: string[] = [];
  renewal.onHello(hello, (text) => sent.push(text));
  assert.equal(sent.length, 1);
  assert.match((JSON.parse(sent[0] as string) as { csr: string }).csr, /BEGIN CERTIFICATE REQUEST/);
  assert.equal(renewal.onCert({ type: 'cert', pem: 'NEW CERT', serial: 'BB' }), true);
  assert.equal(renewal.credentials.cert, 'NEW CERT', 'the next connection uses the new certificate');
  // The handshake with it fails: back to the old pair, and no loop of renewals.
  assert.equal(renewal.connectionEnded(false, true), true);
  assert.equal(renewal.credentials, old);
  assert.equal(stats.renewals.fellBack, 1);
  renewal.onHello(hello, (text) => sent.push(text));
  assert.equal(sent.length, 1, 'no new request in this run after a fall-back');
  assert.deepEqual(renewed, []);
});
