/**
 * SPEC: every stored message reaches every sink at least once, across hub
 * restarts. A process running the real store and the bridge is killed with
 * SIGKILL while its MQTT and InfluxDB sinks are behind, then started again:
 * everything arrives (repeats allowed, loss not).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import type { SinkRunnerStats } from '../../src/bridge/index.js';
import { openStore } from '../../src/store/log-store.js';
import { SILENT_LOGGER } from '../../src/log.js';
import { startInfluxd, type Influxd } from '../helpers/influxd.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { waitUntil } from '../helpers/wait.js';
import { arrivalsOf, subscribe, type Subscriber } from './mqtt-subscriber.js';
import { assertInOrderPerDevice, readings } from './sink-contract.js';
import { DEFAULT_STORE_CONFIG } from '../../src/store/store-config.js';

const CHILD = join(import.meta.dirname, 'fixtures', 'bridge-process.js'); // compiled beside this file
const DEVICES = ['crash-a', 'crash-b', 'crash-c'];
const PER_DEVICE = 1000;
const TOTAL = DEVICES.length * PER_DEVICE;

/** Starts the child; resolves with it once `until` holds for the stats it prints. */
function runBridge(dir: string, sinks: unknown, until: (stats: SinkRunnerStats[]) => boolean): Promise<{ child: ChildProcess; stats: SinkRunnerStats[] }> {
  const child = spawn(process.execPath, ['--enable-source-maps', CHILD, dir, JSON.stringify(sinks)], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('bridge process did not reach the expected state within 60 s'));
    }, 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bridge process exited early with ${code}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const stats = JSON.parse(line) as SinkRunnerStats[];
      if (until(stats)) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({ child, stats });
      }
    });
  });
}

function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

describe('hub killed with SIGKILL while the sinks are behind', () => {
  let broker: Mosquitto;
  let influxd: Influxd;
  let subscriber: Subscriber;
  let dir: string;
  before(async () => {
    [broker, influxd] = await Promise.all([startMosquitto(), startInfluxd()]);
    subscriber = await subscribe(broker.url, 'fleethub/+/telemetry');
    dir = await mkdtemp(join(tmpdir(), 'fleethub-crash-'));
  });
  after(async () => {
    await subscriber?.close();
    await Promise.all([broker?.stop(), influxd?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('after the restart every reading reaches both sinks', async () => {
    const store = await openStore(dir, { ...DEFAULT_STORE_CONFIG, segmentBytes: 256 * 1024, retentionBytes: 0, retentionHours: 0 }, { log: SILENT_LOGGER });
    await store.append(readings(DEVICES, PER_DEVICE));
    await store.close();
    const sinks = [
      { type: 'mqtt', name: 'broker', url: broker.url, batchSize: 20 },
      { type: 'influx', name: 'db', host: '127.0.0.1', port: influxd.port, database: 'crash', createDatabase: true, batchSize: 20, flushIntervalMs: 0 },
    ];
    const first = await runBridge(dir, sinks, (stats) => stats.every((s) => s.delivered >= 300));
    await kill(first.child, 'SIGKILL');
    assert.ok(first.stats.every((s) => s.delivered < TOTAL), 'the sinks were still behind when the process was killed');

    const second = await runBridge(dir, sinks, (stats) => stats.every((s) => s.lagMessages === 0 && s.position === TOTAL));
    await kill(second.child, 'SIGTERM');

    await waitUntil(() => new Set(arrivalsOf(subscriber, 'crash').map((a) => `${a.device}/${a.seq}`)).size >= TOTAL, 'every reading reached the broker', 30_000);
    assertInOrderPerDevice(arrivalsOf(subscriber, 'crash'), new Map(DEVICES.map((d) => [d, [1, PER_DEVICE] as const])));
    const [result] = await influxd.query('crash', 'SELECT count("count") FROM telemetry GROUP BY device');
    assert.deepEqual(
      result?.series?.map((s) => [s.tags?.device, s.values[0]?.[1]]),
      DEVICES.map((d) => [d, PER_DEVICE]),
    );
  });
});
