/**
 * The CLI's PKI commands act on the cluster with a cluster hub's `--config`
 * (SPEC: Cluster mode, Provisioning by claim): `provision batch revoke`
 * publishes the claim CRL, so a hub whose PKI folder never saw the
 * revocation refuses the claim certificate in the handshake; `provision
 * batch add` publishes the inventory, so a hub whose folder never saw the
 * batch provisions with it; `device list --config` shows the cluster's
 * view (a renewal committed by a hub, a device a hub provisioned, a
 * revocation), while `device list` on the folder alone shows the folder's.
 * Two real hubs, each with its own copy of the PKI folder, on one real
 * three-node nats-server cluster; the CLI as a child process.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { addBatch } from '../../../src/pki/claim-batches.js';
import { createCsr } from '../../../src/pki/csr-builder.js';
import { pkiPaths } from '../../../src/pki/index.js';
import type { DeviceRecord } from '../../../src/pki/inventory.js';
import { runCli } from '../../helpers/cli.js';
import { connectDevice, DeviceClient, tryConnectDevice } from '../../helpers/device-client.js';
import { startHub, waitUntil, type TestHub } from '../../helpers/hub.js';
import { startNatsCluster, type NatsCluster } from '../../helpers/nats-cluster.js';
import type { TestPki } from '../../helpers/pki.js';
import { certReply, connectV2, csrFor, DAY_MS, deviceKeys, dueDevice, ESP32_TLS, makeSigningPki } from '../renewal-fixture.js';

const WAIT_MS = 30_000;

interface ProvisionReply {
  provisioned?: { device: string; cert: string; serial: string; notAfter: number };
  provisionError?: { error: string };
}

/** The claim certificate and key of `batch` in `pki`'s folder (the CLI's). */
async function claimOf(pki: TestPki, batch: string): Promise<{ cert: string; key: string }> {
  const paths = pkiPaths(pki.dir);
  const [cert, key] = await Promise.all([readFile(paths.claimCert(batch), 'utf8'), readFile(paths.claimKey(batch), 'utf8')]);
  return { cert, key };
}

function provisionUrl(hub: TestHub): string {
  return hub.deviceUrl.replace('/v1/device', '/v1/provision');
}

/** One provisioning exchange on `hub` with `claim`: the reply and the close code. */
async function provision(hub: TestHub, pki: TestPki, claim: { cert: string; key: string }, device: string, keys: ReturnType<typeof deviceKeys>): Promise<{ reply: ProvisionReply | null; code: number }> {
  const client = await connectDevice({ url: provisionUrl(hub), ca: pki.ca, ...claim, ...ESP32_TLS });
  client.ws.send(JSON.stringify({ provision: { device, csr: createCsr(device, keys.publicKey, keys.privateKey) } }));
  const code = await client.waitForClose();
  return { reply: (client.messages[0] as ProvisionReply | undefined) ?? null, code };
}

/** `device list --json` with `args`; fails the test on a non-zero exit. */
async function listed(args: readonly string[]): Promise<DeviceRecord[]> {
  const out = await runCli(['device', 'list', '--json', ...args]);
  assert.equal(out.code, 0, out.stderr);
  return JSON.parse(out.stdout) as DeviceRecord[];
}

describe('cluster mode: the CLI\'s PKI commands with --config', () => {
  let nats: NatsCluster;
  let pki: TestPki;
  let pkiB: string;
  let a: TestHub;
  let b: TestHub;
  let configA: string;
  const clusterOf = (node: string) => ({ node, nats: { servers: nats.urls } });

  before(async () => {
    nats = await startNatsCluster();
    pki = await makeSigningPki();
    await dueDevice(pki, 'cl-renewed');
    await dueDevice(pki, 'cl-due');
    // The claim CA comes with the first batch: both hubs' folders have it, as an operator sets a cluster up.
    await addBatch(pki.dir, 'line-old', { ids: ['lo-0001', 'lo-0002'] });
    a = await startHub({ cluster: clusterOf('hub-a') }, pki);
    // Hub B on its own copy, made before the CLI's commands below: it learns of them only through the cluster.
    pkiB = await mkdtemp(join(tmpdir(), 'fleethub-pki-b-'));
    await cp(pki.dir, pkiB, { recursive: true });
    b = await startHub({ cluster: clusterOf('hub-b') }, { ...pki, dir: pkiB });
    configA = join(pki.dir, 'hub-a.json');
    await writeFile(configA, JSON.stringify({ pkiDir: pki.dir, cluster: clusterOf('hub-a') }));
  });

  after(async () => {
    await b?.stop();
    await a?.stop();
    await nats?.stop();
    await rm(pkiB, { recursive: true, force: true });
    await pki?.cleanup();
  });

  it('`provision batch revoke --config` on the CLI\'s folder: a hub that never got the folder refuses the claim certificate in the handshake', async () => {
    const claim = await claimOf(pki, 'line-old');
    const before = await provision(b, pki, claim, 'lo-0001', deviceKeys());
    assert.equal(before.code, 1000, `the batch works on hub B before, got ${JSON.stringify(before.reply)}`);

    const result = await runCli(['provision', 'batch', 'revoke', 'line-old', '--config', configA]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /revoked batch line-old/);
    assert.match(result.stdout, /published the inventory \(revision \d+\) and the claim CRL \(revision \d+\) to the cluster/);

    await waitUntil(async () => {
      const attempt = await tryConnectDevice({ url: provisionUrl(b), ca: pki.ca, ...claim, ...ESP32_TLS });
      if (attempt instanceof DeviceClient) {
        await attempt.close();
        return false;
      }
      // Refused in the TLS handshake, before any HTTP status.
      return attempt.status === undefined;
    }, 'hub B refuses the revoked batch\'s claim certificate in the handshake', WAIT_MS);

    // Again with --config: the batch is revoked already, and the cluster gets it again (a publish that failed is retried so).
    const again = await runCli(['provision', 'revoke', 'line-old', '--config', configA]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /already revoked.*\n.*published/);
  });

  it('`provision batch add --config`: a device provisions through a hub whose folder never saw the batch, and `device list --config` shows it', async () => {
    const idsFile = join(pki.dir, 'ids-new.txt');
    await writeFile(idsFile, 'ln-0001\nln-0002\n');
    const result = await runCli(['provision', 'batch', 'add', 'line-new', '--ids-file', idsFile, '--config', configA]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /created batch line-new/);
    assert.match(result.stdout, /every hub may provision with batch line-new/);

    const keys = deviceKeys();
    const done = await provision(b, pki, await claimOf(pki, 'line-new'), 'ln-0001', keys);
    assert.equal(done.code, 1000, JSON.stringify(done.reply));
    const issued = done.reply?.provisioned;
    assert.ok(issued !== undefined);
    const device = await connectV2(a.deviceUrl, pki, { cert: issued.cert, key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
    device.sendSeqs([1]);
    await device.waitForAck(1);
    await device.close();

    // The cluster's view lists the device hub B provisioned; the CLI's folder alone does not.
    const inCluster = (await listed(['--config', configA])).find((d) => d.id === 'ln-0001');
    assert.equal(inCluster?.serial, issued.serial);
    assert.equal(inCluster?.status, 'active');
    assert.equal(Date.parse(inCluster.notAfter), issued.notAfter);
    assert.equal((await listed(['--pki', pki.dir])).some((d) => d.id === 'ln-0001'), false);
    const table = await runCli(['device', 'list', '--config', configA]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`^ln-0001 +active .*${issued.serial}$`, 'm'));
  });

  it('`device list --expiring --config` shows the expiry of a renewal committed in the cluster; without --config, the folder\'s view', async () => {
    const paths = pkiPaths(pki.dir);
    const old = { cert: await readFile(paths.deviceCert('cl-renewed'), 'utf8'), key: await readFile(paths.deviceKey('cl-renewed'), 'utf8') };
    const folderBefore = await listed(['--expiring', '60d', '--pki', pki.dir]);
    const oldRecord = folderBefore.find((d) => d.id === 'cl-renewed');
    assert.ok(oldRecord !== undefined);

    // Renewed through hub A, committed through hub B (the device's first handshake with the new certificate).
    const first = await connectV2(a.deviceUrl, pki, old);
    const keys = deviceKeys();
    first.send({ csr: csrFor('cl-renewed', keys) });
    const reply = await certReply(first);
    assert.ok('cert' in reply, JSON.stringify(reply));
    const body = reply.cert as { pem: string; serial: string; notAfter: number };
    await first.close();
    const renewed = { cert: body.pem, key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
    const second = await connectV2(b.deviceUrl, pki, renewed);
    second.sendSeqs([1]);
    await second.waitForAck(1);
    await second.close();

    // The cluster's view: the renewed certificate is current, so the device no longer ends within 60 days ...
    await waitUntil(async () => !(await listed(['--expiring', '60d', '--config', configA])).some((d) => d.id === 'cl-renewed'), 'the renewed device leaves the expiring list', WAIT_MS);
    const expiring = await listed(['--expiring', '60d', '--config', configA]);
    assert.deepEqual(expiring.map((d) => d.id), ['cl-due'], 'the device not renewed is still expiring');
    // ... and within a longer horizon it shows the new certificate's expiry.
    assert.ok(body.notAfter - Date.now() > 60 * DAY_MS, 'the hub renewed for longer than 60 days');
    const later = (await listed(['--expiring', `${Math.ceil((body.notAfter - Date.now()) / DAY_MS) + 1}d`, '--config', configA])).find((d) => d.id === 'cl-renewed');
    assert.equal(later?.serial, body.serial);
    assert.equal(Date.parse(later.notAfter), body.notAfter);
    const text = await runCli(['device', 'list', '--expiring', '60d', '--config', configA]);
    assert.equal(text.code, 0, text.stderr);
    assert.doesNotMatch(text.stdout, /cl-renewed/);

    // Without --config: the folder's view, unchanged.
    const folder = await listed(['--expiring', '60d', '--pki', pki.dir]);
    assert.deepEqual(folder.find((d) => d.id === 'cl-renewed'), oldRecord);

    // Revoked from the CLI: the cluster's view shows the renewed certificate revoked.
    const revoke = await runCli(['device', 'revoke', 'cl-renewed', '--config', configA]);
    assert.equal(revoke.code, 0, revoke.stderr);
    const after = (await listed(['--config', configA])).find((d) => d.id === 'cl-renewed');
    assert.equal(after?.serial, body.serial);
    assert.equal(after?.status, 'revoked');
  });
});
