/**
 * deploy/nats/nats-{1,2,3}.conf (three NATS nodes on one machine) are the
 * template the test cluster runs, with the deploy ports and folders: the
 * tests exercise the configs users deploy.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { natsNodeConfig } from '../helpers/nats-cluster.js';
import { REPO_ROOT } from '../helpers/paths.js';

describe('deploy/nats', () => {
  it('holds one config per node, rendered from the tested template', async () => {
    for (const n of [1, 2, 3]) {
      const text = await readFile(join(REPO_ROOT, 'deploy', 'nats', `nats-${n}.conf`), 'utf8');
      const body = text.split('\n').filter((line) => !line.startsWith('#')).join('\n');
      const expected = natsNodeConfig({
        name: `nats-${n}`,
        host: '127.0.0.1',
        clientPort: 4221 + n,
        clusterPort: 6221 + n,
        httpPort: 8221 + n,
        storeDir: `./data/nats-${n}`,
        routePorts: [6222, 6223, 6224],
      });
      assert.equal(body, expected, `deploy/nats/nats-${n}.conf`);
    }
  });
});
