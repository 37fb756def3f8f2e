/**
 * `fleethub provision batch add line-7 --ids-file ids.txt`, then
 * `fleethub sim --claim line-7`: every simulated device makes its own key and
 * CSR, provisions itself through /v1/provision with the batch's claim
 * certificate, then streams with its new certificate, zero lost (issue 18's
 * "done means", at a size this machine runs in a test).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startHub } from '../helpers/hub.js';
import { runCli } from '../helpers/cli.js';
import { makeTestPki } from '../helpers/pki.js';
import { loadInventory } from '../../src/pki/inventory.js';
import { fleetIds } from '../../firmware-sim/device-credentials.js';

const DEVICES = 20;

test('sim --claim provisions every device through /v1/provision, then streams with zero lost', async () => {
  const pki = await makeTestPki();
  try {
    const issuing = await runCli(['ca', 'issuing', 'init', '--pki', pki.dir]);
    assert.equal(issuing.code, 0, issuing.stderr);
    const idsFile = join(pki.dir, 'ids.txt');
    await writeFile(idsFile, `# line 7, December run\n${fleetIds('line7-', DEVICES).join('\n')}\n`);
    const batch = await runCli(['provision', 'batch', 'add', 'line-7', '--ids-file', idsFile, '--pki', pki.dir]);
    assert.equal(batch.code, 0, batch.stderr);
    assert.match(batch.stdout, new RegExp(`created batch line-7 \\(${DEVICES} allowed ids`));
    const hub = await startHub({}, pki);
    try {
      const sim = await runCli([
        'sim', '--url', hub.deviceUrl, '--pki', pki.dir, '--claim', 'line-7', '--prefix', 'line7-', '--devices', String(DEVICES),
        '--rate', '2', '--duration', '2', '--no-progress',
      ]);
      assert.equal(sim.code, 0, sim.stderr + sim.stdout);
      assert.match(sim.stderr, new RegExp(`provisioned ${DEVICES} devices through /v1/provision \\(batch line-7\\)`));
      assert.match(sim.stdout, new RegExp(`^devices connected\\s+${DEVICES} / ${DEVICES}`, 'm'));
      assert.match(sim.stdout, /PASS: zero lost/);
    } finally {
      await hub.stop();
    }
    const inventory = await loadInventory(pki.dir);
    assert.equal(inventory.provisioned.filter((p) => p.batch === 'line-7').length, DEVICES);
    const list = await runCli(['provision', 'list', '--pki', pki.dir]);
    assert.match(list.stdout, new RegExp(`^line-7  active  ${DEVICES} ids  provisioned ${DEVICES} `, 'm'));
  } finally {
    await pki.cleanup();
  }
});
