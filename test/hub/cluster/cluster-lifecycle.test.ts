/**
 * Renewal and provisioning by claim in cluster mode (SPEC: Cluster mode,
 * Device protocol version 2, Provisioning by claim): the records live in
 * the cluster. A device renews through hub A and reconnects with its new
 * certificate through hub B, and the previous certificate is then refused
 * on both (the issuing CA's CRL, published to the cluster by the hub that
 * committed); a later `device revoke --config` from the CLI keeps the hubs'
 * revocations on the CRL it publishes. Two hubs asked for one device's
 * renewal at once give one certificate. A device provisioned through hub A
 * streams through hub B, where an identical repeat gets the same
 * certificate and another key for the same id is refused until the CLI's
 * `provision reset --config`. Two real hubs,
 * each with its own copy of the PKI folder, on one real three-node
 * nats-server cluster.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { clusterNames, openClusterBucket } from '../../../src/hub/cluster/cluster-bucket.js';
import { ClusterRenewalLedger } from '../../../src/hub/cluster/cluster-renewal.js';
import { loadIssuingCa } from '../../../src/pki/loaded-ca.js';
import { loadInventory } from '../../../src/pki/inventory.js';
import { addBatch } from '../../../src/pki/claim-batches.js';
import { createCsr } from '../../../src/pki/csr-builder.js';
import { parseCrl, pkiPaths } from '../../../src/pki/index.js';
import { natsConnectOptions } from '../../../src/store/jetstream/jetstream-options.js';
import { runCli } from '../../helpers/cli.js';
import { connectDevice, tryConnectDevice } from '../../helpers/device-client.js';
import { metricValue, startHub, waitUntil, type TestHub } from '../../helpers/hub.js';
import { startNatsCluster, type NatsCluster } from '../../helpers/nats-cluster.js';
import type { TestPki } from '../../helpers/pki.js';
import { certReply, connectV2, csrFor, deviceKeys, dueDevice, ESP32_TLS, makeSigningPki } from '../renewal-fixture.js';

const WAIT_MS = 30_000;
type CertBody = { pem: string; serial: string; notAfter: number };

function keysPem(keys: ReturnType<typeof deviceKeys>): string {
  return keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

interface ProvisionReply {
  provisioned?: { device: string; cert: string; serial: string; notAfter: number };
  provisionError?: { error: string };
}

/** One provisioning exchange on `hub` with batch `batch`'s claim certificate: the reply and the close code. */
async function provision(hub: TestHub, pki: TestPki, batch: string, device: string, keys: ReturnType<typeof deviceKeys>): Promise<{ reply: ProvisionReply | null; code: number }> {
  const paths = pkiPaths(pki.dir);
  const [cert, key] = await Promise.all([readFile(paths.claimCert(batch), 'utf8'), readFile(paths.claimKey(batch), 'utf8')]);
  const client = await connectDevice({ url: hub.deviceUrl.replace('/v1/device', '/v1/provision'), ca: pki.ca, cert, key, ...ESP32_TLS });
  client.ws.send(JSON.stringify({ provision: { device, csr: createCsr(device, keys.publicKey, keys.privateKey) } }));
  const code = await client.waitForClose();
  return { reply: (client.messages[0] as ProvisionReply | undefined) ?? null, code };
}

/** True once `creds` can no longer open a protocol 2 session on `hub` (refused in the handshake or closed right after). */
async function refusedOn(hub: TestHub, pki: TestPki, creds: { cert: string; key: string }): Promise<boolean> {
  const attempt = await tryConnectDevice({ url: hub.deviceUrl, ca: pki.ca, cert: creds.cert, key: creds.key, protocol: 'fleethub.v2', ...ESP32_TLS });
  if ('ok' in attempt && attempt.ok === false) return true;
  const client = attempt as Awaited<ReturnType<typeof connectV2>>;
  const code = await client.waitForClose(2_000).catch(() => null);
  if (code === null) await client.close();
  return code !== null;
}

describe('cluster mode: renewal and provisioning', () => {
  let nats: NatsCluster;
  let pki: TestPki;
  let pkiB: string;
  let a: TestHub;
  let b: TestHub;
  const clusterOf = (node: string) => ({ node, nats: { servers: nats.urls } });

  before(async () => {
    nats = await startNatsCluster();
    pki = await makeSigningPki();
    await dueDevice(pki, 'cr-move');
    await dueDevice(pki, 'cr-race');
    await dueDevice(pki, 'cr-ttl');
    await addBatch(pki.dir, 'line-9', { ids: ['l9-0001', 'l9-0002'] });
    await addBatch(pki.dir, 'lab-9', { open: true, max: 1 });
    // A pending certificate unused for a second is revoked at the next check (run by the test).
    a = await startHub({ cluster: clusterOf('hub-a'), renewal: { pendingTtl: '1s' } }, pki);
    // Each hub its own copy of the PKI folder: nothing is shared but the cluster.
    pkiB = await mkdtemp(join(tmpdir(), 'fleethub-pki-b-'));
    await cp(pki.dir, pkiB, { recursive: true });
    b = await startHub({ cluster: clusterOf('hub-b'), renewal: { pendingTtl: '1s' } }, { ...pki, dir: pkiB });
  });

  after(async () => {
    await b?.stop();
    await a?.stop();
    await nats?.stop();
    await rm(pkiB, { recursive: true, force: true });
    await pki?.cleanup();
  });

  it('renews through hub A, commits through hub B, and the previous certificate is then refused on both', async () => {
    const listed = (await loadInventory(pki.dir)).devices.find((d) => d.id === 'cr-move');
    assert.ok(listed);
    const paths = pkiPaths(pki.dir);
    const old = { cert: await readFile(paths.deviceCert('cr-move'), 'utf8'), key: await readFile(paths.deviceKey('cr-move'), 'utf8') };
    const first = await connectV2(a.deviceUrl, pki, old);
    assert.ok((await first.hello()).features?.includes('renew'), 'a cluster hub offers renewal');
    const keys = deviceKeys();
    first.send({ csr: csrFor('cr-move', keys) });
    const reply = await certReply(first);
    assert.ok('cert' in reply, `a certificate, got ${JSON.stringify(reply)}`);
    const body = reply.cert as CertBody;
    await first.close();

    const renewed = { cert: body.pem, key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
    const second = await connectV2(b.deviceUrl, pki, renewed);
    assert.equal(((await second.hello()).cert as { serial: string }).serial, body.serial);
    second.sendSeqs([1]);
    await second.waitForAck(1);
    await second.close();

    await waitUntil(async () => (await refusedOn(b, pki, old)) && (await refusedOn(a, pki, old)), 'the superseded certificate is refused on both hubs', WAIT_MS);
    // Close to expiry: the two other due devices, not this one (its current certificate is the renewed one, whatever the inventory says).
    await b.hub.checkRenewals();
    assert.equal(metricValue(b.hub, 'fleethub_device_certs_expiring'), 2);
    // The renewed one keeps working on either.
    const third = await connectV2(a.deviceUrl, pki, renewed);
    third.sendSeqs([2]);
    await third.waitForAck(2);
    await third.close();
    assert.equal(new X509Certificate(body.pem).serialNumber.toUpperCase(), body.serial);

    // The operator revokes the device from the CLI, whose PKI folder knows neither the renewal nor the hubs' revocation:
    // the CRL it publishes lists the certificate the cluster issued, and still the one a hub revoked.
    const configA = join(pki.dir, 'hub-a.json');
    await writeFile(configA, JSON.stringify({ pkiDir: pki.dir, cluster: clusterOf('hub-a') }));
    const result = await runCli(['device', 'revoke', 'cr-move', '--config', configA]);
    assert.equal(result.code, 0, result.stderr);
    const nc = await connect(natsConnectOptions({ node: 'test', nats: { servers: nats.urls, tls: null, creds: null }, replicas: 3 }));
    try {
      const kv = await openClusterBucket(nc, clusterNames().pkiBucket, 3, 5_000);
      const published = parseCrl((await kv.get('issuing-crl'))?.string() ?? '');
      assert.ok(published.serials.has(body.serial), 'the renewed certificate is revoked with its device');
      assert.ok(published.serials.has(listed.serial), 'the superseded certificate is still on the published CRL');
    } finally {
      await nc.close();
    }
    await waitUntil(async () => (await refusedOn(b, pki, renewed)) && (await refusedOn(a, pki, renewed)), 'the renewed certificate is refused on both hubs', WAIT_MS);
    assert.ok(await refusedOn(b, pki, old), 'and the superseded one still is');
  });

  it('a pending certificate never used is revoked by the check of any hub, and refused on every hub', async () => {
    const paths = pkiPaths(pki.dir);
    const creds = { cert: await readFile(paths.deviceCert('cr-ttl'), 'utf8'), key: await readFile(paths.deviceKey('cr-ttl'), 'utf8') };
    const device = await connectV2(a.deviceUrl, pki, creds);
    const keys = deviceKeys();
    device.send({ csr: csrFor('cr-ttl', keys) });
    const reply = await certReply(device);
    assert.ok('cert' in reply, JSON.stringify(reply));
    await device.close();
    const pending = { cert: (reply.cert as CertBody).pem, key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
    // Past pendingTtl (1 s in these hubs' config), hub B's check revokes what hub A issued.
    const issuedAt = Date.now();
    await waitUntil(() => Date.now() - issuedAt > 1_500, 'pendingTtl passed');
    await b.hub.checkRenewals();
    assert.equal(metricValue(b.hub, 'fleethub_cert_pending_revoked_total'), 1);
    await waitUntil(async () => (await refusedOn(a, pki, pending)) && (await refusedOn(b, pki, pending)), 'the unused certificate is refused on both hubs', WAIT_MS);
    // The device's certificate of before keeps working.
    const again = await connectV2(b.deviceUrl, pki, creds);
    again.sendSeqs([1]);
    await again.waitForAck(1);
    await again.close();
  });

  it('two hubs asked for one device\'s renewal at once issue one certificate', async () => {
    const connectAs = (node: string) => connect(natsConnectOptions({ node, nats: { servers: nats.urls, tls: null, creds: null }, replicas: 3 }));
    const ncA = await connectAs('race-a');
    const ncB = await connectAs('race-b');
    try {
      const issuing = await loadIssuingCa(pki.dir, null);
      assert.ok(issuing);
      const serial = (await loadInventory(pki.dir)).devices.find((d) => d.id === 'cr-race')?.serial as string;
      const ledgerOf = async (nc: typeof ncA) => new ClusterRenewalLedger({
        kv: await openClusterBucket(nc, clusterNames().renewalBucket, 3, 5_000), inventory: () => loadInventory(pki.dir), dir: pki.dir,
        signer: { ca: issuing, role: 'issuing' }, days: 30, policy: { minIntervalMs: 86_400_000, allowEarly: false }, revoke: () => Promise.resolve(null),
      });
      const [ledgerA, ledgerB] = await Promise.all([ledgerOf(ncA), ledgerOf(ncB)]);
      const { publicKey } = deviceKeys();
      const outcomes = await Promise.all([ledgerA, ledgerB].map((l) => l.renew({ device: 'cr-race', serial, publicKey }, () => 0)));
      const serials = outcomes.map((o) => (o.ok ? o.serial : `refused ${o.error}`));
      assert.equal(serials[0], serials[1], `one certificate, got ${serials.join(', ')}`);
      assert.deepEqual(outcomes.map((o) => o.ok && o.repeat).sort(), [false, true], 'one issued, the other the idempotent repeat');
      // Another key at the same moment: the one-renewal-per-day rule, across hubs.
      const other = await ledgerB.renew({ device: 'cr-race', serial, publicKey: deviceKeys().publicKey }, () => 0);
      assert.equal(other.ok ? 'issued' : other.error, 'rate_limited');
    } finally {
      await Promise.all([ncA.close(), ncB.close()]);
    }
  });

  it('provisions through hub A, streams through hub B, and an identical repeat on hub B gets the same certificate', async () => {
    const keys = deviceKeys();
    const first = await provision(a, pki, 'line-9', 'l9-0001', keys);
    assert.equal(first.code, 1000, JSON.stringify(first.reply));
    const issued = first.reply?.provisioned;
    assert.ok(issued !== undefined);
    const device = await connectV2(b.deviceUrl, pki, { cert: issued.cert, key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
    assert.equal((await device.hello()).device, 'l9-0001');
    device.sendSeqs([1]);
    await device.waitForAck(1);
    await device.close();
    // A lost reply, the device retrying through another hub: the same certificate, not a second one.
    const again = await provision(b, pki, 'line-9', 'l9-0001', keys);
    assert.equal(again.code, 1000, JSON.stringify(again.reply));
    assert.equal(again.reply?.provisioned?.serial, issued.serial);
  });

  it('an id is provisioned once across hubs until `provision reset --config`: another key on hub B is refused, and an open batch\'s maximum holds across hubs', async () => {
    const firstKeys = deviceKeys();
    const first = await provision(a, pki, 'line-9', 'l9-0002', firstKeys);
    assert.equal(first.code, 1000, JSON.stringify(first.reply));
    const keys = deviceKeys();
    const other = await provision(b, pki, 'line-9', 'l9-0002', keys);
    assert.equal(other.code, 4003);
    assert.equal(other.reply?.provisionError?.error, 'already_provisioned');
    // `provision reset --config` (the flash was erased): any hub provisions the id again, and its old certificate is refused.
    const configA = join(pki.dir, 'hub-a.json');
    await writeFile(configA, JSON.stringify({ pkiDir: pki.dir, cluster: clusterOf('hub-a') }));
    const reset = await runCli(['provision', 'reset', 'l9-0002', '--config', configA]);
    assert.equal(reset.code, 0, reset.stderr);
    const erased = await provision(b, pki, 'line-9', 'l9-0002', keys);
    assert.equal(erased.code, 1000, JSON.stringify(erased.reply));
    const oldCert = { cert: first.reply?.provisioned?.cert ?? '', key: keysPem(firstKeys) };
    await waitUntil(async () => refusedOn(a, pki, oldCert), 'the certificate of before the reset is refused', WAIT_MS);
    const lab = await provision(b, pki, 'lab-9', 'lab9-1', deviceKeys());
    assert.equal(lab.code, 1000, JSON.stringify(lab.reply));
    const over = await provision(a, pki, 'lab-9', 'lab9-2', deviceKeys());
    assert.equal(over.reply?.provisionError?.error, 'not_allowed', 'max 1 for the whole cluster');
  });
});
