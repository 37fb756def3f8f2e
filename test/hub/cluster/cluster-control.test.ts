/**
 * Commands and desired configuration across the cluster (SPEC: Device
 * protocol version 2; Cluster mode): two hubs on one real three-node
 * nats-server cluster. Whatever an operator asks of hub A's console reaches
 * the device wherever it is connected, and what the device answers is seen
 * from any hub: a command to a device on hub B, a command queued while the
 * device is offline and delivered when it connects to B, a lost one never
 * resent, one whose hub was killed reported lost (every state ends),
 * desired config set on A delivered on B with its ack visible from A and
 * not resent when the device moves, glob documents set on either hub
 * reaching devices on both, and desired config kept when a hub restarts
 * with an empty data folder.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CommandRecord } from '../../../src/hub/commands/command-center.js';
import { runCli, startServe } from '../../helpers/cli.js';
import { connectDevice, type DeviceClient } from '../../helpers/device-client.js';
import { startHub, type TestHub } from '../../helpers/hub.js';
import { startNatsCluster, type NatsCluster } from '../../helpers/nats-cluster.js';
import { makeTestPki, type DeviceCredentials, type TestPki } from '../../helpers/pki.js';
import { waitUntil } from '../../helpers/wait.js';

const WAIT_MS = 30_000;
const COMMANDS = { ping: { plans: ['*'], timeoutMs: 20_000 } };
/** How long past ttl + timeout a hub waits for a command's outcome (HubOptions.cluster.commandGraceMs), short for the test of a dead hub. */
const GRACE_MS = 1_000;
type Json = Record<string, unknown>;

describe('cluster mode: commands and desired configuration on any hub', () => {
  let nats: NatsCluster;
  let pki: TestPki;
  const devices = new Map<string, DeviceCredentials>();
  const open: DeviceClient[] = [];
  let a: TestHub;
  let b: TestHub;

  const startNode = (node: string): Promise<TestHub> => startHub({ commands: COMMANDS, console: { maxConfigGlobs: 2 }, cluster: { node, nats: { servers: nats.urls } }, clusterOptions: { commandGraceMs: GRACE_MS } }, pki);
  const isFinal = (r: CommandRecord): boolean => r.state !== 'queued' && r.state !== 'sent';
  /** The CLI through `hub`'s console, as an operator runs it. */
  const cli = (hub: TestHub, args: string[]) => runCli([...args, '--console', hub.consoleUrl, '--pki', pki.dir]);

  /** A v2 device on `hub`; it answers `ping` with `pong` when `answer` is set. */
  async function connect(hub: TestHub, id: string, answer = true): Promise<DeviceClient> {
    const creds = devices.get(id)!;
    const device = await connectDevice({ url: hub.deviceUrl, ca: pki.ca, cert: creds.cert, key: creds.key, protocol: 'fleethub.v2' });
    open.push(device);
    await device.hello();
    if (answer) {
      device.ws.on('message', (data) => {
        const { cmd } = JSON.parse(String(data)) as { cmd?: { id: string; args: Json } };
        if (cmd !== undefined) device.send({ cmdResult: { id: cmd.id, ok: true, result: { pong: cmd.args.n ?? 0 } } });
      });
    }
    return device;
  }

  /** Sends a reading and waits for its ack: whatever the hub sent before the ack has arrived too. */
  async function roundTrip(device: DeviceClient, seq: number): Promise<void> {
    device.send({ seq, data: { v: 1 } });
    await device.waitForAck(seq);
  }

  const cmds = (device: DeviceClient) => device.messages.filter((m) => m.cmd !== undefined);
  const configs = (device: DeviceClient) => device.messages.filter((m) => m.config !== undefined);

  before(async () => {
    nats = await startNatsCluster();
    pki = await makeTestPki();
    for (const id of ['cc-online', 'cc-offline', 'cc-lost', 'cc-expire', 'cc-dead-hub', 'cfg-move', 'cfg-restart', 'glob-1', 'glob-2', 'glob-own', 'glob-wide']) devices.set(id, await pki.addDevice(id));
    a = await startNode('hub-a');
    b = await startNode('hub-b');
  });

  after(async () => {
    await Promise.all(open.map((d) => d.close().catch(() => undefined)));
    await b?.stop();
    await a?.stop();
    await nats?.stop();
    await pki?.cleanup();
  });

  it('a command sent through hub A\'s console to a device on hub B succeeds, sent once', async () => {
    const device = await connect(b, 'cc-online');
    const result = await cli(a, ['device', 'command', 'cc-online', 'ping', '--args', '{"n":7}', '--ttl', '20s']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual({ ...(JSON.parse(result.stdout) as Json), id: '' }, { id: '', device: 'cc-online', state: 'succeeded', result: { pong: 7 } });
    assert.equal(cmds(device).length, 1);
    assert.deepEqual(a.hub.onlineDevices(), []);
  });

  it('a command queued for an offline device is delivered when it connects to hub B; one past its ttl is expired and sent nowhere', async () => {
    const states: CommandRecord[] = [];
    const first = await a.hub.control.commands.submit({ device: 'cc-offline', name: 'ping', args: { n: 3 }, ttlMs: 60_000 }, 'test-token', (r) => states.push(r));
    assert.equal(first.state, 'queued');
    const expiring: CommandRecord[] = [];
    await a.hub.control.commands.submit({ device: 'cc-expire', name: 'ping', ttlMs: 300 }, 'test-token', (r) => expiring.push(r));
    const device = await connect(b, 'cc-offline');
    const { cmd } = await device.waitFor((m) => m.cmd !== undefined, WAIT_MS);
    assert.equal(cmd?.id, first.id, 'the device sees the id the operator was given');
    await waitUntil(() => states.some(isFinal), 'the outcome reaches hub A', WAIT_MS);
    assert.deepEqual(states.map((r) => r.state), ['sent', 'succeeded']);
    assert.deepEqual(states.at(-1)?.result, { pong: 3 });
    await waitUntil(() => expiring.some(isFinal), 'the short-lived command ends', WAIT_MS);
    assert.deepEqual(expiring.map((r) => r.state), ['expired']);
    const late = await connect(b, 'cc-expire');
    await roundTrip(late, 1);
    assert.equal(cmds(late).length, 0);
  });

  it('a connection dropped after the command was sent: lost, and never resent on another hub', async () => {
    const device = await connect(b, 'cc-lost', false);
    const states: CommandRecord[] = [];
    await a.hub.control.commands.submit({ device: 'cc-lost', name: 'ping', ttlMs: 60_000 }, 'test-token', (r) => states.push(r));
    await device.waitFor((m) => m.cmd !== undefined, WAIT_MS);
    device.ws.terminate();
    await waitUntil(() => states.some(isFinal), 'the outcome reaches hub A', WAIT_MS);
    assert.equal(states.at(-1)?.state, 'lost');
    const again = await connect(a, 'cc-lost');
    await roundTrip(again, 1);
    assert.equal(cmds(again).length, 0);
  });

  it('a hub killed while it holds a sent command: the accepting hub reports it lost past its ttl, timeout and commandGraceMs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleethub-hub-c-'));
    const config = join(dir, 'hub-c.json');
    await writeFile(config, JSON.stringify({
      device: { host: '127.0.0.1', port: 0 }, console: { host: '127.0.0.1', port: 0 }, pkiDir: pki.dir, dataDir: join(dir, 'data'),
      commands: COMMANDS, cluster: { node: 'hub-c', nats: { servers: nats.urls } },
    }));
    const c = startServe(['--config', config], { env: { FLEETHUB_PKI: undefined, FLEETHUB_LOG_LEVEL: 'info' } });
    try {
      const { deviceUrl } = await c.ready;
      const creds = devices.get('cc-dead-hub')!;
      const device = await connectDevice({ url: deviceUrl, ca: pki.ca, cert: creds.cert, key: creds.key, protocol: 'fleethub.v2' });
      open.push(device);
      await device.hello();
      const states: CommandRecord[] = [];
      await a.hub.control.commands.submit({ device: 'cc-dead-hub', name: 'ping', ttlMs: 2_000, timeoutMs: 500 }, 'test-token', (r) => states.push(r));
      await device.waitFor((m) => m.cmd !== undefined, WAIT_MS);
      c.child.kill('SIGKILL');
      await c.exited;
      await waitUntil(() => states.some(isFinal), 'hub A gives the command a final state', WAIT_MS);
      assert.equal(states.at(-1)?.state, 'lost');
      assert.match(states.at(-1)?.error ?? '', /no hub reported an outcome/);
    } finally {
      if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
      await c.exited;
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('desired config set on hub A reaches the device on hub B, its ack is visible from A, and a move does not resend it', async () => {
    const device = await connect(b, 'cfg-move');
    const file = join(pki.dir, 'cfg-move.json');
    await writeFile(file, JSON.stringify({ interval_s: 30 }));
    const set = await cli(a, ['device', 'config', 'set', 'cfg-move', '--file', file]);
    assert.equal(set.code, 0, set.stderr);
    const { version } = JSON.parse(set.stdout) as { version: number };
    const { config } = await device.waitFor((m) => m.config !== undefined, WAIT_MS);
    assert.deepEqual(config, { version, desired: { interval_s: 30 } });
    device.send({ configAck: { version, ok: true } });
    await waitUntil(async () => {
      const got = await cli(a, ['device', 'config', 'get', 'cfg-move']);
      return (JSON.parse(got.stdout) as { acked: { version: number; ok: boolean } | null }).acked?.version === version;
    }, 'hub A\'s console shows the ack recorded on hub B', WAIT_MS);
    await device.close();
    const moved = await connect(a, 'cfg-move');
    await roundTrip(moved, 1);
    assert.equal(configs(moved).length, 0, 'an acknowledged version is not sent again');
  });

  it('a glob document set on hub B reaches matching devices on both hubs, a device\'s own document outranks it, and a delete falls back', async () => {
    const [g1, g2, own, wide] = await Promise.all([connect(b, 'glob-1'), connect(a, 'glob-2'), connect(b, 'glob-own'), connect(a, 'glob-wide')]);
    const file = (name: string, body: Json): Promise<string> => writeFile(join(pki.dir, name), JSON.stringify(body)).then(() => join(pki.dir, name));
    const ownSet = await cli(a, ['device', 'config', 'set', 'glob-own', '--file', await file('own.json', { mode: 'own' })]);
    assert.equal(ownSet.code, 0, ownSet.stderr);
    const ownVersion = (JSON.parse(ownSet.stdout) as { version: number }).version;
    const broad = await cli(a, ['device', 'config', 'set', 'glob-*', '--file', await file('broad.json', { interval_s: 60 })]);
    assert.equal(broad.code, 0, broad.stderr);
    const broadVersion = (JSON.parse(broad.stdout) as { version: number }).version;
    const narrow = await cli(b, ['device', 'config', 'set', 'glob-?', '--file', await file('narrow.json', { interval_s: 10 })]);
    assert.equal(narrow.code, 0, narrow.stderr);
    const narrowVersion = (JSON.parse(narrow.stdout) as { version: number }).version;
    // One counter for the cluster: a version set on hub B never repeats one set on hub A.
    assert.equal(new Set([ownVersion, broadVersion, narrowVersion]).size, 3);
    assert.ok(narrowVersion > broadVersion && broadVersion > ownVersion);

    // The most specific glob wins on either hub; the device with its own document keeps it.
    for (const device of [g1, g2]) {
      await waitUntil(() => configs(device).some((m) => m.config?.version === narrowVersion), 'the narrow glob\'s document arrives', WAIT_MS);
    }
    await waitUntil(() => configs(wide).some((m) => m.config?.version === broadVersion), 'the broad glob\'s document reaches glob-wide', WAIT_MS);
    await waitUntil(() => configs(own).some((m) => m.config?.version === ownVersion), 'glob-own gets its own document', WAIT_MS);
    await roundTrip(own, 1);
    assert.deepEqual(configs(own).map((m) => m.config?.version), [ownVersion], 'no glob document for a device with its own');
    const view = await cli(a, ['device', 'config', 'get', 'glob-1']);
    assert.equal(view.code, 0, view.stderr);
    assert.deepEqual({ ...(JSON.parse(view.stdout) as Json), updatedAt: 0 }, {
      device: 'glob-1', version: narrowVersion, desired: { interval_s: 10 }, updatedAt: 0, glob: 'glob-?', acked: null,
    });

    // glob-1 acknowledges the narrow document, so moving it to hub A sends nothing.
    g1.send({ configAck: { version: narrowVersion, ok: true } });
    await waitUntil(async () => (JSON.parse((await cli(a, ['device', 'config', 'get', 'glob-1'])).stdout) as { acked: { version: number } | null }).acked?.version === narrowVersion, 'the ack is stored', WAIT_MS);
    await g1.close();
    const moved = await connect(a, 'glob-1');
    await roundTrip(moved, 1);
    assert.equal(configs(moved).length, 0);

    // console.maxConfigGlobs (2 here) counts the cluster's globs, wherever they were set.
    const third = await cli(a, ['device', 'config', 'set', 'gl*', '--file', await file('third.json', { interval_s: 5 })]);
    assert.equal(third.code, 5, third.stderr);
    assert.match(third.stderr, /too_many_globs/);

    // Deleting the narrow glob (through hub B) hands glob-2 and glob-1 (both on hub A now) the broad one.
    const deleted = await cli(b, ['device', 'config', 'delete', 'glob-?']);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.deepEqual(JSON.parse(deleted.stdout), { devices: 'glob-?', deleted: true });
    for (const device of [moved, g2]) {
      await waitUntil(() => configs(device).some((m) => m.config?.version === broadVersion), 'the broad glob\'s document follows the delete', WAIT_MS);
    }
  });

  it('a hub restarted with an empty data folder keeps every device\'s desired config', async () => {
    const set = await a.hub.control.configs.set('cfg-restart', { mode: 'eco' }, 'test-token');
    assert.ok('version' in set);
    // stop() deletes the hub's data folder; the new one starts with an empty one, as on a replaced machine.
    await a.stop();
    a = await startNode('hub-a');
    const got = await cli(a, ['device', 'config', 'get', 'cfg-restart']);
    assert.equal(got.code, 0, got.stderr);
    assert.deepEqual((JSON.parse(got.stdout) as Json).desired, { mode: 'eco' });
    const device = await connect(a, 'cfg-restart');
    const { config } = await device.waitFor((m) => m.config !== undefined, WAIT_MS);
    assert.deepEqual(config, { version: set.version, desired: { mode: 'eco' } });
  });
});
