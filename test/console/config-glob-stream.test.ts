/**
 * Desired configuration for globs of devices from dashboards and from the
 * CLI, on a real hub with real v2 devices (SPEC: Token scopes, Device
 * protocol version 2).
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { signToken, type TokenScope } from '../../src/hub/console/dashboard-token.js';
import { loadOrCreateTokenKey } from '../../src/hub/console/token-key-file.js';
import { runCli } from '../helpers/cli.js';
import { connectDevice, type DeviceClient } from '../helpers/device-client.js';
import { startHub, type TestHub } from '../helpers/hub.js';
import type { DeviceCredentials } from '../helpers/pki.js';
import { connectClient, type Json, type TestClient } from './console-fixture.js';

describe('desired configuration for globs of devices through the console', () => {
  let hub: TestHub;
  const open: { close(): unknown }[] = [];
  const credentials = new Map<string, DeviceCredentials>();
  before(async () => {
    hub = await startHub({ console: { maxConfigGlobs: 2 } });
    for (const id of ['pump-1', 'pump-2']) credentials.set(id, await hub.pki.addDevice(id));
  });
  after(async () => {
    for (const c of open) await c.close();
    await hub.stop();
  });

  async function dashboard(devices: string, scopes: TokenScope[]): Promise<TestClient> {
    const token = signToken(loadOrCreateTokenKey(hub.pki.dir), { devices, scopes }).token;
    const client = await connectClient(`${hub.consoleUrl.replace('https:', 'wss:')}/v1/stream`, hub.pki.ca);
    open.push({ close: () => client.ws.terminate() });
    client.send({ auth: token });
    await client.next((m) => m.authed !== undefined);
    return client;
  }

  async function device(id: string): Promise<DeviceClient> {
    const creds = credentials.get(id)!;
    const client = await connectDevice({ url: hub.deviceUrl, ca: hub.pki.ca, cert: creds.cert, key: creds.key, protocol: 'fleethub.v2' });
    open.push(client);
    await client.hello();
    return client;
  }

  it('a config token sets, reads and deletes a glob\'s document within its scope; outside it, forbidden; a bad glob, invalid_glob', async () => {
    const pump = await device('pump-1');
    const client = await dashboard('pump-*', ['config']);
    client.send({ config: { devices: 'pump-*', desired: { interval_s: 15 } } });
    const set = (await client.next()).config as Json;
    assert.equal(set.devices, 'pump-*');
    assert.equal(typeof set.version, 'number');
    await pump.waitFor((m) => m.config?.version === set.version);
    client.send({ config: { devices: 'pump-*' } });
    const got = (await client.next()).config as Json;
    assert.deepEqual({ ...got, updatedAt: 0 }, { devices: 'pump-*', version: set.version, desired: { interval_s: 15 }, updatedAt: 0 });
    client.send({ config: { device: 'pump-1' } });
    const view = (await client.next()).config as Json;
    assert.equal(view.glob, 'pump-*');
    assert.equal(view.version, set.version);

    // `*` and `valve-*` reach devices outside the token's pump-*: refused, nothing stored or sent.
    client.send({ config: { devices: '*', desired: { a: 1 } } });
    assert.deepEqual(await client.next(), { error: 'forbidden' });
    client.send({ config: { devices: 'valve-*', desired: { a: 1 } } });
    assert.deepEqual(await client.next(), { error: 'forbidden' });
    for (const glob of ['pump-[12]', 'pump-1', '']) {
      client.send({ config: { devices: glob, desired: { a: 1 } } });
      assert.deepEqual(await client.next(), { error: 'invalid_glob' }, glob);
    }
    client.send({ config: { devices: 'pump-*', delete: true, desired: { a: 1 } } });
    assert.deepEqual(await client.next(), { error: 'invalid_message' });
    assert.equal(hub.hub.control.configs.getGlob('*'), null);
    assert.equal(hub.hub.control.configs.getGlob('valve-*'), null);

    // A read-only token may not touch glob documents.
    const reader = await dashboard('pump-*', ['read']);
    reader.send({ config: { devices: 'pump-*' } });
    assert.deepEqual(await reader.next(), { error: 'forbidden' });

    client.send({ config: { devices: 'pump-*', delete: true } });
    assert.deepEqual(await client.next(), { config: { devices: 'pump-*', deleted: true } });
    assert.equal(hub.hub.control.configs.getGlob('pump-*'), null);
  });

  describe('the CLI', () => {
    const cli = (args: string[]) => runCli([...args, '--console', hub.consoleUrl, '--pki', hub.pki.dir]);

    it('device config set|get|delete with a glob; a bad glob exits 2; past maxConfigGlobs the hub refuses it (exit 5)', async () => {
      const pump = await device('pump-2');
      const file = join(hub.dataDir, 'pumps.json');
      await writeFile(file, '{"interval_s":9}');
      const set = await cli(['device', 'config', 'set', 'pump-?', '--file', file]);
      assert.equal(set.code, 0, set.stderr);
      const { version, devices } = JSON.parse(set.stdout) as { version: number; devices: string };
      assert.equal(devices, 'pump-?');
      await pump.waitFor((m) => m.config?.version === version);
      const get = await cli(['device', 'config', 'get', 'pump-?']);
      assert.equal(get.code, 0, get.stderr);
      assert.deepEqual((JSON.parse(get.stdout) as Json).desired, { interval_s: 9 });
      const viaDevice = await cli(['device', 'config', 'get', 'pump-2']);
      assert.equal((JSON.parse(viaDevice.stdout) as Json).glob, 'pump-?');

      const bad = await cli(['device', 'config', 'set', 'pump-[0-9]*', '--file', file]);
      assert.equal(bad.code, 2, bad.stderr);
      assert.equal(bad.stderr.trim().split('\n').length, 1);
      assert.match(bad.stderr, /invalid device glob/);
      const deleteId = await cli(['device', 'config', 'delete', 'pump-2']);
      assert.equal(deleteId.code, 2, deleteId.stderr);

      assert.equal((await cli(['device', 'config', 'set', 'valve-*', '--file', file])).code, 0);
      const third = await cli(['device', 'config', 'set', 'p*', '--file', file]);
      assert.equal(third.code, 5, third.stderr);
      assert.match(third.stderr, /too_many_globs/);

      const del = await cli(['device', 'config', 'delete', 'pump-?']);
      assert.equal(del.code, 0, del.stderr);
      assert.deepEqual(JSON.parse(del.stdout), { devices: 'pump-?', deleted: true });
      assert.equal((await cli(['device', 'config', 'set', 'p*', '--file', file])).code, 0);
    });
  });
});
