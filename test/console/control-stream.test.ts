/**
 * Commands and desired configuration from dashboards and from the CLI, on a
 * real hub with real v2 devices (SPEC: Token scopes, Device protocol version 2).
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { signToken, type TokenScope } from '../../src/hub/console/dashboard-token.js';
import { loadOrCreateTokenKey } from '../../src/hub/console/token-key-file.js';
import { runCli } from '../helpers/cli.js';
import { connectDevice, type DeviceClient } from '../helpers/device-client.js';
import { metricValue, startHub, waitUntil, type TestHub } from '../helpers/hub.js';
import type { DeviceCredentials } from '../helpers/pki.js';
import { connectClient, type Json, type TestClient } from './console-fixture.js';

describe('commands and desired configuration through the console', () => {
  let hub: TestHub;
  const creds = new Map<string, DeviceCredentials>();
  const open: { close(): unknown }[] = [];
  before(async () => {
    hub = await startHub({
      commands: { ping: {}, fail: {}, slow: { timeoutMs: 300 } },
      console: { commandsPerTokenPerMin: 3, maxClientPayloadBytes: 16_384 },
    });
    for (const id of ['ctl-1', 'ctl-2', 'ctl-rate', 'ctl-cli', 'ctl-off', 'other-1']) creds.set(id, await hub.pki.addDevice(id));
  });
  after(async () => {
    for (const c of open) await c.close();
    await hub.stop();
  });

  async function dashboard(devices: string, scopes?: TokenScope[]): Promise<TestClient> {
    const token = signToken(loadOrCreateTokenKey(hub.pki.dir), { devices, ...(scopes === undefined ? {} : { scopes }) }).token;
    const client = await connectClient(`${hub.consoleUrl.replace('https:', 'wss:')}/v1/stream`, hub.pki.ca);
    open.push({ close: () => client.ws.terminate() });
    client.send({ auth: token });
    const { authed } = (await client.next()) as { authed: Json };
    assert.deepEqual(authed.scopes, scopes ?? ['read']);
    return client;
  }

  /** A v2 device that answers `ping` ok, `fail` not ok, and never `slow`. */
  async function answeringDevice(id: string): Promise<DeviceClient> {
    const c = creds.get(id)!;
    const device = await connectDevice({ url: hub.deviceUrl, ca: hub.pki.ca, cert: c.cert, key: c.key, protocol: 'fleethub.v2' });
    open.push(device);
    await device.hello();
    device.ws.on('message', (data) => {
      const { cmd } = JSON.parse(String(data)) as { cmd?: { id: string; name: string } };
      if (cmd === undefined || cmd.name === 'slow') return;
      device.send({ cmdResult: cmd.name === 'ping' ? { id: cmd.id, ok: true, result: { pong: 1 } } : { id: cmd.id, ok: false, error: 'it failed' } });
    });
    return device;
  }

  const cmdsAt = (device: DeviceClient) => device.messages.filter((m) => m.cmd !== undefined).length;

  it('a read-only token (the default) may neither command nor configure: forbidden, and nothing reaches the device', async () => {
    const device = await answeringDevice('ctl-1');
    const client = await dashboard('ctl-*');
    client.send({ command: { device: 'ctl-1', name: 'ping' } });
    assert.deepEqual(await client.next(), { error: 'forbidden' });
    client.send({ config: { device: 'ctl-1', desired: { a: 1 } } });
    assert.deepEqual(await client.next(), { error: 'forbidden' });
    client.send({ config: { device: 'ctl-1' } });
    assert.deepEqual(await client.next(), { error: 'forbidden' });
    // A command token may not set config, nor command a device outside its glob.
    const commander = await dashboard('ctl-*', ['read', 'command']);
    commander.send({ config: { device: 'ctl-1', desired: { a: 1 } } });
    assert.deepEqual(await commander.next(), { error: 'forbidden' });
    commander.send({ command: { device: 'other-1', name: 'ping' } });
    assert.deepEqual(await commander.next(), { error: 'forbidden' });
    assert.equal(cmdsAt(device), 0);
    assert.equal(hub.hub.control.configs.get('ctl-1').desired, null);
  });

  it('a command token sends a command and sees it queued, sent and succeeded; bad requests are refused', async () => {
    await answeringDevice('ctl-2');
    const client = await dashboard('ctl-2', ['command']);
    client.send({ command: { device: 'ctl-2', name: 'ping', args: { n: 1 } } });
    const queued = (await client.next()).command as Json;
    assert.equal(queued.state, 'queued');
    assert.deepEqual(await client.next(), { command: { id: queued.id, device: 'ctl-2', state: 'sent' } });
    assert.deepEqual(await client.next(), { commandResult: { id: queued.id, device: 'ctl-2', state: 'succeeded', result: { pong: 1 } } });
    client.send({ command: { device: 'ctl-2', name: 'format_disk' } });
    assert.deepEqual(((await client.next()).commandResult as Json).error, 'not_allowed');
    client.send({ command: { device: 'ctl-2', name: 'ping', args: { s: 'x'.repeat(300) } } });
    assert.deepEqual(((await client.next()).commandResult as Json).error, 'invalid_args');
    client.send({ command: { name: 'ping' } });
    assert.deepEqual(await client.next(), { error: 'invalid_message' });
  });

  it('a flood of commands from one token is refused rate_limited past commandsPerTokenPerMin', async () => {
    const client = await dashboard('ctl-rate', ['command']);
    const refusedBefore = metricValue(hub.hub, 'fleethub_commands_total{name="ping",state="refused"}');
    for (let i = 0; i < 4; i += 1) client.send({ command: { device: 'ctl-rate', name: 'ping', ttlMs: 60_000 } });
    const answers: Json[] = [];
    for (let i = 0; i < 4; i += 1) answers.push(await client.next());
    assert.equal(answers.filter((m) => (m.command as Json | undefined)?.state === 'queued').length, 3);
    assert.deepEqual(answers.map((m) => (m.commandResult as Json | undefined)?.error).filter(Boolean), ['rate_limited']);
    assert.equal(metricValue(hub.hub, 'fleethub_commands_total{name="ping",state="refused"}'), refusedBefore + 1);
  });

  it('a config token sets and reads a device\'s desired configuration; over the limit it is too_large', async () => {
    const client = await dashboard('ctl-1', ['config']);
    client.send({ config: { device: 'ctl-1', desired: { interval_s: 5 } } });
    const { config } = (await client.next()) as { config: Json };
    assert.equal(config.device, 'ctl-1');
    assert.equal(typeof config.version, 'number');
    client.send({ config: { device: 'ctl-1' } });
    const got = (await client.next()).config as Json;
    assert.deepEqual({ ...got, updatedAt: 0 }, { device: 'ctl-1', version: config.version, desired: { interval_s: 5 }, updatedAt: 0, glob: null, acked: null });
    // Over the device's maxDownlinkBytes (4096 by default): refused, and the stored version stays.
    client.send({ config: { device: 'ctl-1', desired: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, 'v'.repeat(250)])) } });
    assert.deepEqual(await client.next(), { error: 'too_large' });
    client.send({ config: { device: 'ctl-1', desired: { 'bad name': 1 } } });
    assert.deepEqual(await client.next(), { error: 'invalid_config' });
    assert.equal(hub.hub.control.configs.get('ctl-1').desired?.version, config.version);
  });

  describe('the CLI', () => {
    const cli = (args: string[]) => runCli([...args, '--console', hub.consoleUrl, '--pki', hub.pki.dir]);

    it('device command exits 0 succeeded, 10 failed, 11 timed out, 12 expired, 13 refused', async () => {
      await answeringDevice('ctl-cli');
      const ok = await cli(['device', 'command', 'ctl-cli', 'ping', '--args', '{"n":2}']);
      assert.equal(ok.code, 0, ok.stderr);
      assert.deepEqual({ ...JSON.parse(ok.stdout), id: '' }, { id: '', device: 'ctl-cli', state: 'succeeded', result: { pong: 1 } });
      const failed = await cli(['device', 'command', 'ctl-cli', 'fail']);
      assert.equal(failed.code, 10, failed.stderr);
      assert.equal(JSON.parse(failed.stdout).error, 'it failed');
      const slow = await cli(['device', 'command', 'ctl-cli', 'slow']);
      assert.equal(slow.code, 11, slow.stderr);
      const expired = await cli(['device', 'command', 'ctl-off', 'ping', '--ttl', '300ms']);
      assert.equal(expired.code, 12, expired.stderr);
      assert.equal(JSON.parse(expired.stdout).state, 'expired');
      const refused = await cli(['device', 'command', 'ctl-cli', 'reboot']);
      assert.equal(refused.code, 13, refused.stderr);
      assert.equal(refused.stderr.trim().split('\n').length, 1);
      const badArgs = await cli(['device', 'command', 'ctl-cli', 'ping', '--args', '[1]']);
      assert.equal(badArgs.code, 2);
      const unreachable = await runCli(['device', 'command', 'ctl-cli', 'ping', '--console', 'https://127.0.0.1:1', '--pki', hub.pki.dir]);
      assert.equal(unreachable.code, 8);
      assert.equal(unreachable.stderr.trim().split('\n').length, 1);
    });

    it('device config set and get', async () => {
      const file = join(hub.dataDir, 'ctl-cli.json');
      await writeFile(file, '{"interval_s":7}');
      const set = await cli(['device', 'config', 'set', 'ctl-cli', '--file', file]);
      assert.equal(set.code, 0, set.stderr);
      const { version } = JSON.parse(set.stdout) as { version: number };
      await waitUntil(() => open.some((c) => c instanceof Object && (c as DeviceClient).messages?.some((m) => m.config?.version === version)), 'the device got the config');
      const get = await cli(['device', 'config', 'get', 'ctl-cli']);
      assert.equal(get.code, 0, get.stderr);
      const view = JSON.parse(get.stdout) as Json;
      assert.equal(view.version, version);
      assert.deepEqual(view.desired, { interval_s: 7 });
      await writeFile(file, '{"bad name":1}');
      const bad = await cli(['device', 'config', 'set', 'ctl-cli', '--file', file]);
      assert.equal(bad.code, 5, bad.stderr);
    });
  });
});
