/**
 * SPEC: Simulator. Simulated devices speak protocol 2: they answer commands
 * (`ping`, `reboot` with a reconnect, `set_interval`, a failing one) and
 * apply `interval_s` from desired configuration, while streaming with
 * nothing lost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHub } from '../helpers/hub.js';
import { waitUntil } from '../helpers/wait.js';
import { runSim } from '../../firmware-sim/sim-run.js';
import { fleetIds } from '../../firmware-sim/device-credentials.js';
import type { CommandRecord } from '../../src/hub/commands/command-center.js';
import type { Hub } from '../../src/hub/hub.js';

const QUIET = { write: () => true } as unknown as NodeJS.WritableStream;

async function command(hub: Hub, device: string, name: string, args: Record<string, number> = {}): Promise<CommandRecord> {
  const states: CommandRecord[] = [];
  const first = await hub.control.commands.submit({ device, name, args, ttlMs: 30_000 }, 'test', (r) => states.push(r));
  if (first.state === 'refused') return first;
  const final = (): CommandRecord | undefined => states.find((r) => r.state !== 'queued' && r.state !== 'sent');
  await waitUntil(() => final() !== undefined, `${name} to end`, 20_000);
  return final()!;
}

test('simulated devices answer commands and apply desired interval_s, losing nothing', async () => {
  const hub = await startHub({ commands: { ping: {}, reboot: {}, set_interval: {}, fail: {} } });
  try {
    const [a, b] = fleetIds('simcmd-', 2) as [string, string];
    const abort = new AbortController();
    const run = runSim(
      { url: hub.deviceUrl, pkiDir: hub.pki.dir, provision: true, progress: false, devices: 2, rate: 0.5, prefix: 'simcmd-', duration: '60s', drainTimeout: '10s' },
      { out: QUIET, err: QUIET, backoff: { initialMs: 100, maxMs: 1_000 }, signal: abort.signal },
    );
    try {
      await waitUntil(() => hub.hub.onlineDevices().length === 2, 'the simulated devices online', 30_000);
      const ping = await command(hub.hub, a, 'ping');
      assert.equal(ping.state, 'succeeded');
      assert.deepEqual(ping.result, { pong: true });
      const fail = await command(hub.hub, a, 'fail');
      assert.equal(fail.state, 'failed');
      assert.equal(fail.error, 'simulated failure');
      const bad = await command(hub.hub, a, 'set_interval', { interval_s: -1 });
      assert.equal(bad.state, 'failed');

      // reboot: answered, then the device reconnects by itself.
      const connects = (): number => Number(/fleethub_tls_handshakes_total\{result="full"\} (\d+)/.exec(hub.hub.metrics.render())?.[1] ?? 0);
      const before = connects();
      assert.equal((await command(hub.hub, b, 'reboot')).state, 'succeeded');
      await waitUntil(() => connects() > before && hub.hub.onlineDevices().includes(b), 'the rebooted device back', 20_000);

      // set_interval on a, desired interval_s on b: both now send 20 readings a second instead of one every 2 s.
      assert.equal((await command(hub.hub, a, 'set_interval', { interval_s: 0.05 })).state, 'succeeded');
      const set = await hub.hub.control.configs.set(b, { interval_s: 0.05 }, 'test');
      assert.ok('version' in set);
      await waitUntil(() => hub.hub.control.configs.get(b).acked?.version === set.version, 'the config acknowledged', 20_000);
      assert.equal(hub.hub.control.configs.get(b).acked?.ok, true);
      const from = { a: hub.hub.store.lastSeq(a) ?? 0, b: hub.hub.store.lastSeq(b) ?? 0 };
      // At the old rate 40 more readings would take 80 s, past the run; at the new one, 2 s.
      await waitUntil(() => (hub.hub.store.lastSeq(a) ?? 0) >= from.a + 40 && (hub.hub.store.lastSeq(b) ?? 0) >= from.b + 40, 'the faster rate', 40_000);
    } finally {
      // Ends the sending phase early; the outbox still drains.
      abort.abort();
    }
    const { report, failure } = await run;
    assert.equal(report.messages.lost, 0, JSON.stringify(report.messages));
    assert.equal(failure, null);
  } finally {
    await hub.stop();
  }
});
