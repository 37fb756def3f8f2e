/**
 * Renewal in cluster mode (SPEC: Cluster mode, Device protocol version 2):
 * the records live in the cluster, so a device renews through hub A and
 * reconnects with its new certificate through hub B, and the previous
 * certificate is then refused on both (the issuing CA's CRL, published to
 * the cluster by the hub that committed). Two hubs asked for one device's
 * renewal at once give one certificate. A later `device revoke --config`
 * from the CLI keeps the hubs' revocations on the CRL it publishes. Two
 * real hubs, each with its own copy of the PKI folder, on one real
 * three-node nats-server cluster.
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
import { parseCrl, pkiPaths } from '../../../src/pki/index.js';
import { natsConnectOptions } from '../../../src/store/jetstream/jetstream-options.js';
import { runCli } from '../../helpers/cli.js';
import { tryConnectDevice } from '../../helpers/device-client.js';
import { startHub, waitUntil, type TestHub } from '../../helpers/hub.js';
import { startNatsCluster, type NatsCluster } from '../../helpers/nats-cluster.js';
import type { TestPki } from '../../helpers/pki.js';
import { certReply, connectV2, csrFor, deviceKeys, dueDevice, ESP32_TLS, makeSigningPki } from '../renewal-fixture.js';

const WAIT_MS = 30_000;
type CertBody = { pem: string; serial: string; notAfter: number };

/** True once `creds` can no longer open a protocol 2 session on `hub` (refused in the handshake or closed right after). */
async function refusedOn(hub: TestHub, pki: TestPki, creds: { cert: string; key: string }): Promise<boolean> {
  const attempt = await tryConnectDevice({ url: hub.deviceUrl, ca: pki.ca, cert: creds.cert, key: creds.key, protocol: 'fleethub.v2', ...ESP32_TLS });
  if ('ok' in attempt && attempt.ok === false) return true;
  const client = attempt as Awaited<ReturnType<typeof connectV2>>;
  const code = await client.waitForClose(2_000).catch(() => null);
  if (code === null) await client.close();
  return code !== null;
}

describe('cluster mode: certificate renewal', () => {
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
    await dueDevice(pki, 'cr-cli');
    a = await startHub({ cluster: clusterOf('hub-a') }, pki);
    // Each hub its own copy of the PKI folder: nothing is shared but the cluster.
    pkiB = await mkdtemp(join(tmpdir(), 'fleethub-pki-b-'));
    await cp(pki.dir, pkiB, { recursive: true });
    b = await startHub({ cluster: clusterOf('hub-b') }, { ...pki, dir: pkiB });
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
    // The renewed one keeps working on either.
    const third = await connectV2(a.deviceUrl, pki, renewed);
    third.sendSeqs([2]);
    await third.waitForAck(2);
    await third.close();
    assert.equal(new X509Certificate(body.pem).serialNumber.toUpperCase(), body.serial);

    // The operator revokes another device from the CLI: the CRL it publishes still lists the hubs' revocation.
    const configA = join(pki.dir, 'hub-a.json');
    await writeFile(configA, JSON.stringify({ pkiDir: pki.dir, cluster: clusterOf('hub-a') }));
    const result = await runCli(['device', 'revoke', 'cr-cli', '--config', configA]);
    assert.equal(result.code, 0, result.stderr);
    const nc = await connect(natsConnectOptions({ node: 'test', nats: { servers: nats.urls, tls: null, creds: null }, replicas: 3 }));
    try {
      const kv = await openClusterBucket(nc, clusterNames().pkiBucket, 3, 5_000);
      const published = parseCrl((await kv.get('issuing-crl'))?.string() ?? '');
      assert.ok(published.serials.has(listed.serial), 'the superseded certificate is still on the published CRL');
      assert.ok(published.serials.has((await loadInventory(pki.dir)).devices.find((d) => d.id === 'cr-cli')?.serial ?? '?'), 'and the CLI\'s revocation');
    } finally {
      await nc.close();
    }
    await waitUntil(async () => refusedOn(b, pki, old), 'still refused after the CLI published', WAIT_MS);
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
});
