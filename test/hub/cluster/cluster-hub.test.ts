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
import { after, before, describe, it } from 'node:test';
import { CLOSE } from '../../../src/errors.js';
import { connectDevice, type DeviceClient } from '../../helpers/device-client.js';
import { runCli } from '../../helpers/cli.js';
import { startClusterHubs, type ClusterHubs } from '../../helpers/cluster-hubs.js';
import type { TestHub } from '../../helpers/hub.js';
import type { DeviceCredentials, TestPki } from '../../helpers/pki.js';
import { waitUntil } from '../../helpers/wait.js';

const WAIT_MS = 30_000;

describe('cluster mode: hubs on one JetStream', () => {
  /** Hub B runs on its own copy of the PKI folder, made after the devices were added. */
  let hubs: ClusterHubs;
  let pki: TestPki;
  const devices = new Map<string, DeviceCredentials>();
  let a: TestHub;
  let b: TestHub;

  const connect = (hub: TestHub, id: string): Promise<DeviceClient> => {
    const creds = devices.get(id);
    if (creds === undefined) throw new Error(`no device ${id}`);
    return connectDevice({ url: hub.deviceUrl, ca: pki.ca, cert: creds.cert, key: creds.key });
  };

  before(async () => {
    hubs = await startClusterHubs({
      async prepare(made) {
        for (let i = 0; i < 100; i += 1) devices.set(`dev-${i}`, await made.addDevice(`dev-${i}`));
        devices.set('mover', await made.addDevice('mover'));
        devices.set('revoked-1', await made.addDevice('revoked-1'));
      },
    });
    ({ pki, a, b } = hubs);
  });

  after(async () => {
    await hubs?.stop();
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
    const result = await runCli(['device', 'revoke', 'revoked-1', '--config', await hubs.writeCliConfig('hub-a')]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /published the CRL to the cluster/);
    assert.equal(await device.waitForClose(WAIT_MS), CLOSE.REVOKED);
  });
});
