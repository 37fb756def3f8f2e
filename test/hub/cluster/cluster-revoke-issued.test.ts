/**
 * Revocation in cluster mode of a device the issuing CA signed (online
 * signing): its serial is on the issuing CA's CRL, not the root's, so
 * `device revoke --config` must publish that CRL to the cluster too. Two
 * hubs on one real three-node nats-server cluster, each with its own copy
 * of the PKI folder: the device on hub B is closed with 4001 after the CLI
 * revoked it with hub A's config.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLOSE } from '../../../src/errors.js';
import { addDevice, pkiPaths } from '../../../src/pki/index.js';
import { initIssuingCa } from '../../../src/pki/issuing-ca.js';
import { runCli } from '../../helpers/cli.js';
import { connectDevice } from '../../helpers/device-client.js';
import { startHub, type TestHub } from '../../helpers/hub.js';
import { startNatsCluster, type NatsCluster } from '../../helpers/nats-cluster.js';
import { makeTestPki, type TestPki } from '../../helpers/pki.js';

const WAIT_MS = 30_000;

describe('cluster mode: revoking a device the issuing CA signed', () => {
  let nats: NatsCluster;
  let pki: TestPki;
  let pkiB: string;
  let rootKeyAway: string;
  let a: TestHub;
  let b: TestHub;
  const clusterOf = (node: string) => ({ node, nats: { servers: nats.urls } });

  before(async () => {
    nats = await startNatsCluster();
    pki = await makeTestPki();
    await initIssuingCa(pki.dir);
    // Without the root's key on the machine, device add signs with the issuing CA.
    rootKeyAway = join(await mkdtemp(join(tmpdir(), 'fleethub-root-key-')), 'ca.key');
    await rename(pkiPaths(pki.dir).caKey, rootKeyAway);
    await addDevice(pki.dir, 'issued-1');
    a = await startHub({ cluster: clusterOf('hub-a') }, pki);
    pkiB = await mkdtemp(join(tmpdir(), 'fleethub-pki-b-'));
    await cp(pki.dir, pkiB, { recursive: true });
    b = await startHub({ cluster: clusterOf('hub-b') }, { ...pki, dir: pkiB });
  });

  after(async () => {
    await b?.stop();
    await a?.stop();
    await nats?.stop();
    await rm(pkiB, { recursive: true, force: true });
    await rm(join(rootKeyAway, '..'), { recursive: true, force: true });
    await pki?.cleanup();
  });

  it('closes the device on the other hub with 4001', async () => {
    const paths = pkiPaths(pki.dir);
    const cert = await readFile(paths.deviceCert('issued-1'), 'utf8');
    const key = await readFile(paths.deviceKey('issued-1'), 'utf8');
    const device = await connectDevice({ url: b.deviceUrl, ca: pki.ca, cert, key });
    await device.hello();
    const configA = join(pki.dir, 'hub-a.json');
    await writeFile(configA, JSON.stringify({ pkiDir: pki.dir, cluster: clusterOf('hub-a') }));
    const result = await runCli(['device', 'revoke', 'issued-1', '--config', configA]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await device.waitForClose(WAIT_MS), CLOSE.REVOKED);
  });
});
