/**
 * Cluster mode in the hub (SPEC: Cluster mode): two hubs with a `cluster`
 * section on one real three-node nats-server cluster, each with its own
 * copy of the PKI folder (nothing shared on disk). A device moves between
 * them: the older connection closes with 4002 and the newer one resumes
 * from the same lastSeq; 100 devices doing it at once leave one session
 * each; a revocation published with `device revoke --config` closes the
 * device wherever it is with 4001; a session ticket of one hub resumes on
 * another. (A hub without its quorum: cluster-cutoff.test.ts.)
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
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
});
