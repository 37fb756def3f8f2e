/**
 * The library use the docs show (docs/devices.md "Library use" and the
 * example in src/index.ts), through the package's own name as a program that
 * depends on fleethub imports it: resolve a config, create and start a hub,
 * watch its live feed, run a bridge on its store, close both.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { connectDevice } from '../helpers/device-client.js';
import { makeTestPki } from '../helpers/pki.js';
import { waitUntil } from '../helpers/wait.js';

// Imported by name at run time (Node resolves the package's exports map from
// inside it); typed as the source, which dist/src/index.d.ts is compiled from.
const PACKAGE_NAME: string = 'fleethub';
type Fleethub = typeof import('../../src/index.js');

it('a program imports fleethub by name and runs a hub, its live feed and a bridge', async () => {
  const fleethub = (await import(PACKAGE_NAME)) as Fleethub;
  const pki = await makeTestPki();
  const dataDir = await mkdtemp(join(tmpdir(), 'fleethub-library-'));
  try {
    const { hub: config, sinks } = fleethub.resolveHubConfig(
      { device: { host: '127.0.0.1', port: 0 }, console: { host: '127.0.0.1', port: 0 }, pkiDir: pki.dir, dataDir },
      { baseDir: dataDir },
    );
    const hub = fleethub.createHub(config, { log: fleethub.SILENT_LOGGER });
    const { devicePort, consolePort } = await hub.listen();
    assert.ok(devicePort > 0 && consolePort > 0);
    const seen: number[] = [];
    const unsubscribe = hub.feed.subscribe((event) => {
      if (event.type === 'reading') seen.push(event.reading.seq);
    });
    const bridge = fleethub.createBridge({ store: hub.store, sinks: fleethub.resolveSinkConfigs(sinks), dataDir: config.dataDir, log: fleethub.SILENT_LOGGER });
    bridge.start();

    const credentials = await pki.addDevice('library-1');
    const device = await connectDevice({ url: `wss://127.0.0.1:${devicePort}/v1/device`, ca: pki.ca, cert: credentials.cert, key: credentials.key });
    device.sendSeqs([1, 2]);
    await device.waitForAck(2);
    await waitUntil(() => seen.length === 2, 'the live feed carried both readings');
    assert.deepEqual(seen, [1, 2]);
    unsubscribe();
    await device.close();

    await bridge.close();
    await hub.close();
    await hub.close(); // idempotent, as the docs promise
  } finally {
    await rm(dataDir, { recursive: true, force: true });
    await pki.cleanup();
  }
});
