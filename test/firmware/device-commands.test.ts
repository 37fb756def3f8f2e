/**
 * Commands and desired configuration in the C client (SPEC: Device protocol
 * version 2): the Linux example with `--protocol 2` against a real hub with a
 * `commands` allow-list, driven the way an operator drives it, through the
 * real `fleethub device command` and `device config set` CLI over the
 * console. What the operator sees is the test's verdict: the command's final
 * state and exit code, and the acknowledgement the hub recorded.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startHub, waitUntil } from '../helpers/hub.js';
import { runCli } from '../helpers/cli.js';
import { deviceFiles, makeFirmware, reapDevice, startDevice } from './device-process.js';
import { storedSeqs } from './stored-seqs.js';

before(() => makeFirmware());

test('a command from the CLI is answered by the C client: succeeded, failed, and a name the device does not run', async (t) => {
  const hub = await startHub({ commands: { ping: {}, fail: {}, reboot: {} }, limits: { msgsPerSec: 10_000, burst: 10_000 } });
  t.after(() => hub.stop());
  const files = await deviceFiles(hub.pki.ca, await hub.pki.addDevice('fw-cmd'));
  t.after(() => files.cleanup());
  const device = startDevice(`wss://localhost:${hub.devicePort}/v1/device`, files, [
    '--protocol', '2', '--command', 'ping', '--fail-command', 'fail', '--count', '100000', '--interval-ms', '500',
  ]);
  t.after(() => reapDevice(device));
  await device.waitForLine(/^protocol 2 features=cmd,config /);
  const cli = (args: string[]) => runCli([...args, '--console', hub.consoleUrl, '--pki', hub.pki.dir]);

  const ping = await cli(['device', 'command', 'fw-cmd', 'ping', '--args', '{"n":1}', '--timeout', '20s']);
  assert.equal(ping.code, 0, ping.stderr + device.output());
  assert.deepEqual({ ...JSON.parse(ping.stdout), id: '' }, { id: '', device: 'fw-cmd', state: 'succeeded', result: { pong: true } });
  await device.waitForLine(/^cmd ping ok$/);

  const fail = await cli(['device', 'command', 'fw-cmd', 'fail', '--timeout', '20s']);
  assert.equal(fail.code, 10, fail.stderr + device.output());
  const failed = JSON.parse(fail.stdout) as { state: string; error: string };
  assert.equal(failed.state, 'failed');
  assert.equal(failed.error, 'fail failed on purpose');
  await device.waitForLine(/^cmd fail failed fail failed on purpose$/);

  // On the hub's allow-list, not among the device's commands: failed with a reason, never left to time out.
  const reboot = await cli(['device', 'command', 'fw-cmd', 'reboot', '--timeout', '20s']);
  assert.equal(reboot.code, 10, reboot.stderr);
  assert.equal((JSON.parse(reboot.stdout) as { error: string }).error, 'unknown command reboot');

  // Commands interleave with telemetry on the same connection: it stays up and readings go on being stored.
  const stored = (await storedSeqs(hub.hub.store, 'fw-cmd')).size;
  await waitUntil(async () => (await storedSeqs(hub.hub.store, 'fw-cmd')).size > stored, 'more readings stored', 30_000);
  assert.equal(device.lines().filter((l) => l === 'connected').length, 1, device.output());
  await reapDevice(device); // before its state folder is removed
});

test('desired configuration from the CLI: applied and acknowledged (the hub records the ack), a bad one refused with a reason', async (t) => {
  const hub = await startHub({ limits: { msgsPerSec: 10_000, burst: 10_000 } });
  t.after(() => hub.stop());
  const files = await deviceFiles(hub.pki.ca, await hub.pki.addDevice('fw-config'));
  t.after(() => files.cleanup());
  const cli = (args: string[]) => runCli([...args, '--console', hub.consoleUrl, '--pki', hub.pki.dir]);
  const doc = join(files.dir, 'desired.json');

  // Set while the device is offline: offered after its hello.
  await writeFile(doc, '{"interval_s":0.05,"label":"north"}');
  const first = await cli(['device', 'config', 'set', 'fw-config', '--file', doc]);
  assert.equal(first.code, 0, first.stderr);
  const v1 = (JSON.parse(first.stdout) as { version: number }).version;
  const device = startDevice(`wss://localhost:${hub.devicePort}/v1/device`, files, ['--protocol', '2', '--count', '100000', '--interval-ms', '5000']);
  t.after(() => reapDevice(device));
  await device.waitForLine(new RegExp(`^config version=${v1} interval_ms=50$`));
  await waitUntil(() => hub.hub.control.configs.get('fw-config').acked?.version === v1, 'the hub recorded the ack', 30_000);
  assert.equal(hub.hub.control.configs.get('fw-config').acked?.ok, true);
  // Applied: at the configured 50 ms, 20 readings come in a second or so, not the 100 s --interval-ms 5000 would take.
  await waitUntil(async () => (await storedSeqs(hub.hub.store, 'fw-config')).size >= 20, 'readings at the desired interval', 60_000);

  // Changed while online: sent at once; one the device cannot apply is acknowledged not ok, with its reason.
  await writeFile(doc, '{"interval_s":-1}');
  const second = await cli(['device', 'config', 'set', 'fw-config', '--file', doc]);
  assert.equal(second.code, 0, second.stderr);
  const v2 = (JSON.parse(second.stdout) as { version: number }).version;
  await waitUntil(() => hub.hub.control.configs.get('fw-config').acked?.version === v2, 'the refusal recorded', 30_000);
  const acked = hub.hub.control.configs.get('fw-config').acked;
  assert.equal(acked?.ok, false);
  assert.equal(acked?.error, 'interval_s must be a number from 0 to 86400');
  assert.ok(device.lines().includes(`config version=${v2} refused interval_s must be a number from 0 to 86400`), device.output());
  const get = await cli(['device', 'config', 'get', 'fw-config']);
  assert.equal(get.code, 0, get.stderr);
  assert.equal((JSON.parse(get.stdout) as { acked: { version: number } }).acked.version, v2);
  await reapDevice(device); // before its state folder is removed
});
