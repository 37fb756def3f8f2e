/**
 * A closed bridge leaves nothing of its own behind: no connection to its
 * MQTT broker, InfluxDB or ThingSpeak (the HTTP sinks keep a keep-alive
 * connection between batches, ended by their close()), and no active handle
 * that would keep a process such as `fleethub serve` or a hub embedding the
 * bridge from exiting once everything is closed.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createBridge, resolveSinkConfigs } from '../../src/bridge/index.js';
import { SILENT_LOGGER } from '../../src/log.js';
import { openStore } from '../../src/store/log-store.js';
import { DEFAULT_STORE_CONFIG } from '../../src/store/store-config.js';
import { startInfluxd } from '../helpers/influxd.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { startThingSpeakServer } from '../helpers/thingspeak-server.js';
import { waitUntil } from '../helpers/wait.js';
import { readings } from './sink-contract.js';

/** Established TCP connections of this machine to 127.0.0.1:`port`, by their local address, read from the kernel with iproute2's ss. */
function connectionsTo(port: number): Set<string> {
  const lines = execFileSync('ss', ['-Htn', 'state', 'established', `dst 127.0.0.1:${port}`], { encoding: 'utf8' }).split('\n');
  // Recv-Q Send-Q Local:Port Peer:Port (the state filter drops the state column).
  return new Set(lines.filter((l) => l.trim() !== '').map((l) => l.trim().split(/\s+/)[2] ?? l));
}

/** The connections to `port` made since `before` was read. */
function newConnections(port: number, before: ReadonlySet<string>): string[] {
  return [...connectionsTo(port)].filter((local) => !before.has(local));
}

/** `process.getActiveResourcesInfo()` as counts per kind. */
function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

test('a closed bridge holds no connection to its sinks and no active handle of its own', async (t) => {
  const [broker, influxd, thingspeak] = await Promise.all([startMosquitto(), startInfluxd(), startThingSpeakServer({ channels: { 7: 'key-7' }, minIntervalMs: 0 })]);
  t.after(() => Promise.all([broker.stop(), influxd.stop(), thingspeak.close()]));
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-close-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const influxPort = influxd.port;
  const thingspeakPort = Number(new URL(thingspeak.url).port);
  const brokerPort = Number(new URL(broker.url).port);
  // Services up, nothing of the bridge's yet (timers of the services' helpers aside, which the comparison tolerates by kind and count).
  await new Promise((resolve) => setImmediate(resolve));
  const before = activeResources();
  // The helpers' own clients (influxd's readiness check) leave idle keep-alive sockets in Node's global agent, which a
  // sink on that agent would reuse: ended here, and any still there are left out, so only the bridge's count.
  http.globalAgent.destroy();
  const earlier = new Map([influxPort, thingspeakPort, brokerPort].map((port) => [port, connectionsTo(port)]));
  const opened = (port: number): string[] => newConnections(port, earlier.get(port) ?? new Set());

  const store = await openStore(dir, DEFAULT_STORE_CONFIG, { log: SILENT_LOGGER });
  const total = 40;
  await store.append(readings(['close-a'], total));
  const bridge = createBridge({
    store,
    sinks: resolveSinkConfigs([
      { type: 'mqtt', name: 'broker', url: broker.url, batchSize: 10 },
      { type: 'influx', name: 'db', host: '127.0.0.1', port: influxPort, database: 'close', createDatabase: true, batchSize: 10, flushIntervalMs: 0 },
      { type: 'thingspeak', name: 'ts', url: thingspeak.url, minIntervalMs: 0, channels: { 'close-a': { channelId: 7, writeKey: 'key-7', fields: { temp: 'field1' } } } },
    ]),
    dataDir: dir,
    log: SILENT_LOGGER,
  });
  bridge.start();
  await waitUntil(() => bridge.stats().every((s) => s.position === total), 'every sink delivered everything', 60_000);
  // Between batches each sink keeps its connection open (the HTTP ones on a keep-alive socket).
  assert.ok(opened(influxPort).length >= 1, 'the InfluxDB sink keeps its connection between batches');
  assert.ok(opened(thingspeakPort).length >= 1, 'the ThingSpeak sink keeps its connection between batches');

  await bridge.close();
  await store.close();
  // close() has ended them: the sockets are closed at once, not left to an idle timeout.
  assert.deepEqual({ influx: opened(influxPort), thingspeak: opened(thingspeakPort), mqtt: opened(brokerPort) }, { influx: [], thingspeak: [], mqtt: [] });
  // What closing started (a file handle's close, a socket's) settles; nothing of the bridge stays active.
  await waitUntil(() => {
    assert.deepEqual(activeResources(), before);
    return true;
  }, 'the active resources are those from before the bridge', 10_000);
});
