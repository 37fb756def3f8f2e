import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MAX_CONFIG_GLOBS } from '../../src/hub/config.js';
import { metricValue, startHub, waitUntil, type TestHub } from '../helpers/hub.js';
import { connectDevice, type DeviceClient } from '../helpers/device-client.js';
import type { DeviceCredentials } from '../helpers/pki.js';

// SPEC: Device protocol version 2, Desired configuration: one versioned document per device or per glob of devices.
let th: TestHub;
const devices = new Map<string, DeviceCredentials>();
const IDS = ['fan-1', 'fan-2', 'fan-3', 'fan-own', 'fan-10', 'heat-1', 'lamp-1', 'lamp-2', 'relay-1'] as const;

before(async () => {
  th = await startHub({ console: { maxConfigGlobs: 6 } });
  for (const id of IDS) devices.set(id, await th.pki.addDevice(id));
  await th.hub.checkRevocation();
});
after(async () => {
  await th.stop();
});

async function connect(id: string, url = th.deviceUrl): Promise<DeviceClient> {
  const c = devices.get(id)!;
  const client = await connectDevice({ url, ca: th.pki.ca, cert: c.cert, key: c.key, protocol: 'fleethub.v2' });
  await client.hello();
  return client;
}

/** Sends a reading and waits for its ack: whatever the hub sent before the ack has arrived too. */
async function roundTrip(client: DeviceClient): Promise<void> {
  const seq = Date.now();
  client.send({ seq, data: { v: 1 } });
  await client.waitForAck(seq);
}

const configs = (client: DeviceClient) => client.messages.filter((m) => m.config !== undefined).map((m) => m.config!);

function versionOf(outcome: { version: number } | { refused: string }): number {
  assert.ok('version' in outcome, JSON.stringify(outcome));
  return outcome.version;
}

test('config globs: a glob change reaches every matching online device once; a reconnecting fleet gets nothing until a version differs', async () => {
  const configsApi = th.hub.control.configs;
  const own = versionOf(await configsApi.set('fan-own', { interval_s: 1 }, 'test'));
  const fleet = new Map<string, DeviceClient>();
  for (const id of ['fan-1', 'fan-2', 'fan-3', 'fan-own', 'heat-1']) fleet.set(id, await connect(id));
  await fleet.get('fan-own')!.waitFor((m) => m.config?.version === own);
  fleet.get('fan-own')!.send({ configAck: { version: own, ok: true } });
  await waitUntil(() => configsApi.get('fan-own').acked?.version === own, 'fan-own acked its own document');
  const sentBefore = metricValue(th.hub, 'fleethub_config_sent_total');

  const v1 = versionOf(await configsApi.setGlob('fan-*', { interval_s: 30 }, 'test'));
  for (const id of ['fan-1', 'fan-2', 'fan-3']) {
    const client = fleet.get(id)!;
    await client.waitFor((m) => m.config?.version === v1);
    client.send({ configAck: { version: v1, ok: true } });
  }
  for (const client of fleet.values()) await roundTrip(client);
  for (const id of ['fan-1', 'fan-2', 'fan-3']) assert.deepEqual(configs(fleet.get(id)!), [{ version: v1, desired: { interval_s: 30 } }], id);
  // fan-own has its own document (it wins over any glob); heat-1 is not matched.
  assert.deepEqual(configs(fleet.get('fan-own')!).map((c) => c.version), [own]);
  assert.deepEqual(configs(fleet.get('heat-1')!), []);
  assert.equal(metricValue(th.hub, 'fleethub_config_sent_total'), sentBefore + 3);
  await waitUntil(() => ['fan-1', 'fan-2', 'fan-3'].every((id) => configsApi.get(id).acked?.version === v1), 'every ack recorded');
  assert.deepEqual({ ...configsApi.get('fan-2'), acked: null }, { device: 'fan-2', desired: configsApi.getGlob('fan-*'), glob: 'fan-*', acked: null });

  // The whole fleet reconnects: versions match, nothing is sent.
  for (const client of fleet.values()) await client.close();
  for (const id of fleet.keys()) fleet.set(id, await connect(id));
  for (const client of fleet.values()) await roundTrip(client);
  for (const client of fleet.values()) assert.deepEqual(configs(client), []);
  assert.equal(metricValue(th.hub, 'fleethub_config_sent_total'), sentBefore + 3);

  // A new version of the glob reaches each once more; then reconnecting without acking sends it again.
  const v2 = versionOf(await configsApi.setGlob('fan-*', { interval_s: 60 }, 'test'));
  for (const id of ['fan-1', 'fan-2', 'fan-3']) await fleet.get(id)!.waitFor((m) => m.config?.version === v2);
  for (const client of fleet.values()) await roundTrip(client);
  for (const id of ['fan-1', 'fan-2', 'fan-3']) assert.equal(configs(fleet.get(id)!).length, 1);
  await fleet.get('fan-1')!.close();
  const again = await connect('fan-1');
  await again.waitFor((m) => m.config?.version === v2);
  await again.close();
  for (const [id, client] of fleet) if (id !== 'fan-1') await client.close();
});

test('config globs: the device\'s own document, then the most specific glob; deleting a glob falls back to the next one', async () => {
  const api = th.hub.control.configs;
  const all = versionOf(await api.setGlob('lamp*', { level: 1 }, 'test'));
  const lamps = versionOf(await api.setGlob('lamp-*', { level: 2 }, 'test'));
  const lamp1 = versionOf(await api.setGlob('lamp-1*', { level: 3 }, 'test'));
  assert.equal(api.get('lamp-1').glob, 'lamp-1*');
  assert.equal(api.get('lamp-2').desired?.version, lamps);
  assert.equal(api.get('relay-1').desired, null);
  // Set last, but less specific: lamp-1 stays on lamp-1*.
  versionOf(await api.setGlob('lamp-?', { level: 4 }, 'test'));
  assert.equal(api.get('lamp-1').desired?.version, lamp1);
  assert.equal(api.get('lamp-2').glob, 'lamp-?');

  const client = await connect('lamp-1');
  await client.waitFor((m) => m.config?.version === lamp1);
  client.send({ configAck: { version: lamp1, ok: true } });
  await waitUntil(() => api.get('lamp-1').acked?.version === lamp1, 'the ack recorded');
  // Deleting lamp-1* hands lamp-1 the next most specific glob's document (lamp-? beats lamp-*: as many literal characters, fewer *).
  assert.deepEqual(await api.deleteGlob('lamp-1*', 'test'), { deleted: true });
  const next = (await client.waitFor((m) => m.config !== undefined && m.config.version !== lamp1)).config!;
  assert.deepEqual(next.desired, { level: 4 });
  assert.equal(api.get('lamp-1').glob, 'lamp-?');
  assert.deepEqual(await api.deleteGlob('lamp-1*', 'test'), { deleted: false });
  await client.close();
  for (const glob of ['lamp*', 'lamp-*', 'lamp-?']) assert.deepEqual(await api.deleteGlob(glob, 'test'), { deleted: true });
  assert.equal(api.get('lamp-1').desired, null);
  assert.ok(all < lamps);
});

test('config globs: bad patterns and documents are refused with a reason, and nothing is stored', async () => {
  const api = th.hub.control.configs;
  const before = api.globCount;
  for (const glob of ['fan-[12]', 'fan 1', '', 'x'.repeat(129), 'fan-1']) {
    assert.deepEqual(await api.setGlob(glob, { a: 1 }, 'test'), { refused: 'invalid_glob' }, glob);
  }
  assert.deepEqual(await api.setGlob('fan-*', { 'bad name': 1 }, 'test'), { refused: 'invalid_config' });
  assert.deepEqual(await api.setGlob('fan-*', Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, 'v'.repeat(250)])), 'test'), { refused: 'too_large' });
  assert.equal(api.globCount, before);
});

test('config globs: past console.maxConfigGlobs a new glob is refused too_many_globs; an existing one may change', async () => {
  assert.equal(th.config.console.maxConfigGlobs, 6);
  assert.equal(DEFAULT_MAX_CONFIG_GLOBS, 100);
  const api = th.hub.control.configs;
  const start = api.globCount;
  // Several at once: the limit holds for writes in flight too.
  const outcomes = await Promise.all(Array.from({ length: 8 - start }, (_, i) => api.setGlob(`cap-${i}-*`, { a: i }, 'test')));
  assert.equal(outcomes.filter((o) => 'version' in o).length, 6 - start);
  assert.equal(outcomes.filter((o) => 'refused' in o && o.refused === 'too_many_globs').length, 2);
  assert.equal(api.globCount, 6);
  assert.equal(metricValue(th.hub, 'fleethub_config_globs'), 6);
  assert.ok('version' in (await api.setGlob('cap-0-*', { a: 100 }, 'test')));
  assert.deepEqual(await api.deleteGlob('cap-0-*', 'test'), { deleted: true });
  assert.ok('version' in (await api.setGlob('cap-new-*', { a: 1 }, 'test')));
  for (let i = 1; i < 8 - start; i += 1) await api.deleteGlob(`cap-${i}-*`, 'test');
  await api.deleteGlob('cap-new-*', 'test');
});

test('config globs and their acks survive a restart: no resend after it, and the next version is newer', async () => {
  const hub2 = await startHub({}, th.pki);
  const dataDir = hub2.dataDir;
  const set = versionOf(await hub2.hub.control.configs.setGlob('fan-1?', { interval_s: 90 }, 'test'));
  let client = await connect('fan-10', hub2.deviceUrl);
  await client.waitFor((m) => m.config?.version === set);
  client.send({ configAck: { version: set, ok: true } });
  await waitUntil(() => hub2.hub.control.configs.get('fan-10').acked !== null, 'the ack recorded');
  await client.close();
  await hub2.hub.close();
  const hub3 = await startHub({ dataDir }, th.pki);
  try {
    const view = hub3.hub.control.configs.get('fan-10');
    assert.equal(view.glob, 'fan-1?');
    assert.deepEqual(view.desired?.desired, { interval_s: 90 });
    client = await connect('fan-10', hub3.deviceUrl);
    await roundTrip(client);
    assert.deepEqual(configs(client), []);
    const next = versionOf(await hub3.hub.control.configs.setGlob('fan-1?', { interval_s: 91 }, 'test'));
    assert.ok(next > set);
    await client.waitFor((m) => m.config?.version === next);
    await client.close();
  } finally {
    await hub3.stop();
    await hub2.stop();
  }
});
