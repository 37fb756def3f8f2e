import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { metricValue, startHub, waitUntil, type TestHub } from '../helpers/hub.js';
import type { DeviceClient } from '../helpers/device-client.js';
import { roundTrip, startEnrolledHub, type EnrolledHub } from '../helpers/enrolled-hub.js';

// SPEC: Device protocol version 2, Desired configuration: sent after hello only when not acknowledged, and on every change.
let th: TestHub;
let connect: EnrolledHub['connect'];

before(async () => {
  ({ th, connect } = await startEnrolledHub({ plans: { small: { maxDownlinkBytes: 1024 } } }, [['cfg-a'], ['cfg-unacked'], ['cfg-bad'], ['cfg-small', 'small'], ['cfg-v1'], ['cfg-restart']]));
});
after(async () => {
  await th.stop();
});

const configs = (client: DeviceClient) => client.messages.filter((m) => m.config !== undefined).map((m) => m.config!);

test('desired config: delivered once after reconnect, again after a change, not on every reconnect', async () => {
  const set = await th.hub.control.configs.set('cfg-a', { interval_s: 30, mode: 'eco' }, 'test');
  assert.ok('version' in set);
  let client = await connect('cfg-a');
  assert.ok(client.messages[0]?.hello?.features?.includes('config'));
  const { config } = await client.waitFor((m) => m.config !== undefined);
  assert.deepEqual(config, { version: set.version, desired: { interval_s: 30, mode: 'eco' } });
  client.send({ configAck: { version: set.version, ok: true } });
  await waitUntil(() => th.hub.control.configs.get('cfg-a').acked?.version === set.version, 'the ack recorded');
  await client.close();

  // Acknowledged: a reconnect sends nothing.
  client = await connect('cfg-a');
  await roundTrip(client, 1);
  assert.equal(configs(client).length, 0);
  // A change reaches the online device at once.
  const next = await th.hub.control.configs.set('cfg-a', { interval_s: 5 }, 'test');
  assert.ok('version' in next && next.version > set.version);
  await client.waitFor((m) => m.config?.version === next.version);
  client.send({ configAck: { version: next.version, ok: false, error: 'interval too short' } });
  await waitUntil(() => th.hub.control.configs.get('cfg-a').acked?.version === next.version, 'the second ack recorded');
  assert.deepEqual(th.hub.control.configs.get('cfg-a').acked?.error, 'interval too short');
  await client.close();
  client = await connect('cfg-a');
  await roundTrip(client, 2);
  assert.equal(configs(client).length, 0);
  await client.close();
  assert.equal(metricValue(th.hub, 'fleethub_config_sent_total'), 2);
});

test('desired config: not acknowledged, it is sent again at every connection', async () => {
  const set = await th.hub.control.configs.set('cfg-unacked', { interval_s: 10 }, 'test');
  assert.ok('version' in set);
  for (let i = 0; i < 2; i += 1) {
    const client = await connect('cfg-unacked');
    await client.waitFor((m) => m.config?.version === set.version);
    await client.close();
  }
});

test('desired config: a configAck for a version never sent, or malformed, is invalid_message', async () => {
  const set = await th.hub.control.configs.set('cfg-bad', { a: 1 }, 'test');
  assert.ok('version' in set);
  const client = await connect('cfg-bad');
  try {
    await client.waitFor((m) => m.config !== undefined);
    client.send({ configAck: { version: set.version + 100, ok: true } });
    client.send({ configAck: { version: set.version } });
    client.send({ configAck: { version: 'one', ok: true } });
    await client.waitForCount((m) => m.nack === null && m.error === 'invalid_message', 3);
    assert.equal(th.hub.control.configs.get('cfg-bad').acked, null);
  } finally {
    await client.close();
  }
});

test('desired config: over the device maxDownlinkBytes or against the value rules, refused and never sent', async () => {
  const big = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`s${i}`, 'y'.repeat(250)]));
  assert.deepEqual(await th.hub.control.configs.set('cfg-small', big, 'test'), { refused: 'too_large' });
  assert.deepEqual(await th.hub.control.configs.set('cfg-small', { 'bad name': 1 }, 'test'), { refused: 'invalid_config' });
  assert.deepEqual(await th.hub.control.configs.set('cfg-small', { nested: { a: 1 } }, 'test'), { refused: 'invalid_config' });
  assert.deepEqual(await th.hub.control.configs.set('cfg-small', [1], 'test'), { refused: 'invalid_config' });
  const client = await connect('cfg-small');
  try {
    await roundTrip(client, 1);
    assert.equal(configs(client).length, 0);
    assert.equal(th.hub.control.configs.get('cfg-small').desired, null);
  } finally {
    await client.close();
  }
});

test('desired config: a v1 device is never sent one', async () => {
  await th.hub.control.configs.set('cfg-v1', { a: 1 }, 'test');
  const client = await connect('cfg-v1', false);
  try {
    await roundTrip(client, 1);
    assert.equal(configs(client).length, 0);
  } finally {
    await client.close();
  }
});

test('desired config and acks survive a restart: no resend after it', async () => {
  const hub2 = await startHub({}, th.pki);
  const dataDir = hub2.dataDir;
  const set = await hub2.hub.control.configs.set('cfg-restart', { interval_s: 60 }, 'test');
  assert.ok('version' in set);
  let client = await connect('cfg-restart', true, hub2.deviceUrl);
  await client.waitFor((m) => m.config !== undefined);
  client.send({ configAck: { version: set.version, ok: true } });
  await waitUntil(() => hub2.hub.control.configs.get('cfg-restart').acked !== null, 'the ack recorded');
  await client.close();
  await hub2.hub.close();
  const hub3 = await startHub({ dataDir }, th.pki);
  try {
    assert.equal(hub3.hub.control.configs.get('cfg-restart').desired?.version, set.version);
    client = await connect('cfg-restart', true, hub3.deviceUrl);
    await roundTrip(client, 1);
    assert.equal(configs(client).length, 0);
    await client.close();
    // The next version is newer than any before the restart.
    const next = await hub3.hub.control.configs.set('cfg-restart', { interval_s: 61 }, 'test');
    assert.ok('version' in next && next.version > set.version);
  } finally {
    await hub3.stop();
    await hub2.stop();
  }
});
