/**
 * Revocation in cluster mode of a device the issuing CA signed (online
 * signing): its serial is on the issuing CA's CRL, not the root's, so
 * `device revoke --config` must publish that CRL to the cluster too. Two
 * hubs on one real three-node nats-server cluster, each with its own copy
 * of the PKI folder: the device on hub B is closed with 4001 after the CLI
 * revoked it with hub A's config.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLOSE } from '../../../src/errors.js';
import { addDevice, pkiPaths } from '../../../src/pki/index.js';
import { initIssuingCa } from '../../../src/pki/issuing-ca.js';
import { runCli } from '../../helpers/cli.js';
import { startClusterHubs, type ClusterHubs } from '../../helpers/cluster-hubs.js';
import { connectDevice } from '../../helpers/device-client.js';

const WAIT_MS = 30_000;

describe('cluster mode: revoking a device the issuing CA signed', () => {
  let hubs: ClusterHubs;
  let rootKeyAway: string | undefined;

  before(async () => {
    hubs = await startClusterHubs({
      async prepare(pki) {
        await initIssuingCa(pki.dir);
        // Without the root's key on the machine, device add signs with the issuing CA.
        rootKeyAway = join(await mkdtemp(join(tmpdir(), 'fleethub-root-key-')), 'ca.key');
        await rename(pkiPaths(pki.dir).caKey, rootKeyAway);
        await addDevice(pki.dir, 'issued-1');
      },
    });
  });

  after(async () => {
    await hubs?.stop();
    if (rootKeyAway !== undefined) await rm(join(rootKeyAway, '..'), { recursive: true, force: true });
  });

  it('closes the device on the other hub with 4001', async () => {
    const { pki, b } = hubs;
    const paths = pkiPaths(pki.dir);
    const cert = await readFile(paths.deviceCert('issued-1'), 'utf8');
    const key = await readFile(paths.deviceKey('issued-1'), 'utf8');
    const device = await connectDevice({ url: b.deviceUrl, ca: pki.ca, cert, key });
    await device.hello();
    const result = await runCli(['device', 'revoke', 'issued-1', '--config', await hubs.writeCliConfig('hub-a')]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await device.waitForClose(WAIT_MS), CLOSE.REVOKED);
  });
});
