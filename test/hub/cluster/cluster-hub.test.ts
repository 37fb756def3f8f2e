/**
 * Cluster mode in the hub (SPEC: Cluster mode): two hubs with a `cluster`
 * section on one real three-node nats-server cluster, each with its own
 * copy of the PKI folder (nothing shared on disk). A device moves between
 * them: the older connection closes with 4002 and the newer one resumes
 * from the same lastSeq; 100 devices doing it at once leave one session
 * each; a revocation published with `device revoke --config` closes the
 * device wherever it is with 4001; a session ticket of one hub resumes on
 * another; a hub without its quorum answers
 * /healthz 503 and closes its devices with 1013.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLOSE } from '../../../src/errors.js';
import { connectDevice, type DeviceClient } from '../../helpers/device-client.js';
import { runCli } from '../../helpers/cli.js';
import { startHub, type TestHub } from '../../helpers/hub.js';
import { startNatsCluster, type NatsCluster } from '../../helpers/nats-cluster.js';
import { makeTestPki, type DeviceCredentials, type TestPki } from '../../helpers/pki.js';
import { waitUntil } from '../../helpers/wait.js';

const WAIT_MS = 30_000;

/** GET /healthz on a hub's console: its status code. */
function healthz(hub: TestHub): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${hub.consoleUrl}/healthz`, { ca: hub.pki.ca, timeout: 5_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('healthz timed out')));
    req.on('error', reject);
    req.end();
  });
}

describe('cluster mode: hubs on one JetStream', () => {
  let nats: NatsCluster;
  let pki: TestPki;
  /** Hub B's own copy of the PKI folder (made after the devices were added). */
  let pkiB: string;
  const devices = new Map<string, DeviceCredentials>();
  let a: TestHub;
  let b: TestHub;

  const clusterOf = (node: string) => ({ node, nats: { servers: nats.urls } });
  const connect = (hub: TestHub, id: string): Promise<DeviceClient> => {
    const creds = devices.get(id);
    if (creds === undefined) throw new Error(`no device ${id}`);
    return connectDevice({ url: hub.deviceUrl, ca: pki.ca, cert: creds.cert, key: creds.key });
  };

  before(async () => {
    nats = await startNatsCluster();
    pki = await makeTestPki();
    for (let i = 0; i < 100; i += 1) devices.set(`dev-${i}`, await pki.addDevice(`dev-${i}`));
    devices.set('mover', await pki.addDevice('mover'));
    devices.set('revoked-1', await pki.addDevice('revoked-1'));
    a = await startHub({ cluster: clusterOf('hub-a') }, pki);
    // A copy of hub A's folder as an operator makes it: the CA, the server certificate, and the ticket key A made.
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

  it('moves a device between hubs: the older connection closes with 4002, the newer resumes from lastSeq', async () => {
    const first = await connect(a, 'mover');
    assert.equal((await first.hello()).lastSeq, null);
    first.sendSeqs([1, 2, 3, 4, 5]);
    await first.waitForAck(5);
    const second = await connect(b, 'mover');
    assert.equal(await first.waitForClose(WAIT_MS), CLOSE.REPLACED);
    assert.equal((await second.hello()).lastSeq, 5);
    second.sendSeqs([5, 6]);
    await second.waitForAck(6);
    assert.deepEqual(b.hub.onlineDevices(), ['mover']);
    await waitUntil(() => !a.hub.onlineDevices().includes('mover'), 'hub A forgot the moved device', WAIT_MS);
    await second.close();
  });

  it('a device moved to another hub resumes its TLS session there', async () => {
    const creds = devices.get('dev-0')!;
    const first = await connectDevice({ url: a.deviceUrl, ca: pki.ca, cert: creds.cert, key: creds.key, maxVersion: 'TLSv1.2' });
    await first.hello();
    const session = first.session;
    assert.ok(session !== undefined, 'hub A gave a session ticket');
    const second = await connectDevice({ url: b.deviceUrl, ca: pki.ca, cert: creds.cert, key: creds.key, maxVersion: 'TLSv1.2', session });
    assert.equal(second.socket.isSessionReused(), true, 'hub B resumed the session hub A made');
    await second.hello();
    assert.equal(await first.waitForClose(WAIT_MS), CLOSE.REPLACED);
    await second.close();
  });

  it('100 devices moving at once leave exactly one session each', async () => {
    const ids = [...devices.keys()].filter((id) => id.startsWith('dev-'));
    const onA = await Promise.all(ids.map((id) => connect(a, id)));
    await Promise.all(onA.map((c) => c.hello()));
    const onB = await Promise.all(ids.map((id) => connect(b, id)));
    const codes = await Promise.all(onA.map((c) => c.waitForClose(WAIT_MS)));
    assert.deepEqual(new Set(codes), new Set([CLOSE.REPLACED]));
    await Promise.all(onB.map((c) => c.hello()));
    await waitUntil(() => a.hub.onlineDevices().length === 0, 'hub A has no session left', WAIT_MS);
    assert.equal(b.hub.onlineDevices().filter((id) => id.startsWith('dev-')).length, 100);
    assert.ok(onB.every((c) => c.closeCode === null), 'every newer connection is still open');
    await Promise.all(onB.map((c) => c.close()));
  });

  it('a revocation published with `device revoke --config` closes the device on the other hub with 4001', async () => {
    const device = await connect(b, 'revoked-1');
    await device.hello();
    const configA = join(pki.dir, 'hub-a.json');
    await writeFile(configA, JSON.stringify({ pkiDir: pki.dir, cluster: clusterOf('hub-a') }));
    const result = await runCli(['device', 'revoke', 'revoked-1', '--config', configA]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /published the CRL to the cluster/);
    assert.equal(await device.waitForClose(WAIT_MS), CLOSE.REVOKED);
  });

  it('a hub without its JetStream quorum answers /healthz 503 and closes its devices with 1013', async () => {
    assert.equal(await healthz(a), 200);
    const device = await connect(a, 'dev-1');
    await device.hello();
    await nats.kill(1);
    await nats.kill(2);
    try {
      assert.equal(await device.waitForClose(WAIT_MS), CLOSE.TRY_AGAIN_LATER);
      await waitUntil(async () => (await healthz(a)) === 503, '/healthz answers 503', WAIT_MS);
    } finally {
      await nats.restart(1);
      await nats.restart(2);
    }
    await waitUntil(async () => (await healthz(a)) === 200, '/healthz answers 200 again', 60_000);
    const again = await connect(a, 'dev-1');
    await again.hello();
    await again.close();
  });
});
