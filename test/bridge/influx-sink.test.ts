/**
 * The `influx` sink against a real InfluxDB 1.x: the contract suite, then
 * tags, field types (an integer stays an integer), ms timestamps, escaping,
 * a float field learned from the server, and an outage.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InfluxSink } from '../../src/bridge/influx-sink.js';
import type { InfluxSinkConfig } from '../../src/bridge/influx-config.js';
import { resolveSinkConfigs } from '../../src/bridge/sink-config.js';
import { isSinkRefused } from '../../src/bridge/sink.js';
import { SinkRunner } from '../../src/bridge/sink-runner.js';
import { SILENT_LOGGER } from '../../src/log.js';
import { startInfluxd, type Influxd } from '../helpers/influxd.js';
import { MemoryStoreReader } from '../helpers/memory-store-reader.js';
import { makeTestPki } from '../helpers/pki.js';
import { pkiPaths } from '../../src/pki/index.js';
import { runSinkContract, TEST_RUNNER_SETTINGS, type Arrival } from './sink-contract.js';
import { waitUntil } from '../helpers/wait.js';

function influxConfig(influxd: Influxd, fields: Record<string, unknown>): InfluxSinkConfig {
  const [config] = resolveSinkConfigs([
    { type: 'influx', name: 'test', host: '127.0.0.1', port: influxd.port, database: 'fleet', createDatabase: true, requestTimeoutMs: 5_000, ...fields },
  ]);
  assert.ok(config !== undefined && config.type === 'influx');
  return config;
}

/** Rows of `SELECT * FROM measurement`, as objects. */
async function rows(influxd: Influxd, database: string, q: string): Promise<Array<Record<string, unknown>>> {
  const [result] = await influxd.query(database, q);
  const series = result?.series?.[0];
  if (series === undefined) return [];
  return series.values.map((values) => Object.fromEntries(series.columns.map((c, i) => [c, values[i]])));
}

runSinkContract('influx', async () => {
  const influxd = await startInfluxd();
  return {
    // Each test writes its own measurement; arrivals are its points in time order (ts grows with seq).
    create: async (tag) => new InfluxSink(influxConfig(influxd, { name: `c-${tag}`, measurement: `m_${tag}` }), SILENT_LOGGER),
    arrivals: async (tag): Promise<Arrival[]> => {
      const found = await rows(influxd, 'fleet', `SELECT "count", "device" FROM "m_${tag}"`).catch(() => []);
      // One point per (device, ts): seq i has ts base + i*1000 + d, and count = i - 1 within one `readings()` call.
      return found.map((row) => ({ device: String(row.device), seq: Math.floor(((row.time as number) - 1_700_000_000_000) / 1000) }));
    },
    // A string where the measurement holds integers: InfluxDB 1.x refuses it (field type conflict, partial write).
    poison: (device, seq) => ({ device, seq, ts: 1_700_000_000_000 + seq * 1000, data: { count: 'text' } }),
    breakDestination: () => influxd.pause(),
    restore: () => influxd.start(),
    close: () => influxd.stop(),
  };
});

describe('influx sink', () => {
  let influxd: Influxd;
  before(async () => {
    influxd = await startInfluxd();
  });
  after(async () => {
    await influxd.stop();
  });

  it('writes the tag, the field types (integers stay integers) and ms timestamps', async () => {
    const sink = new InfluxSink(influxConfig(influxd, { database: 'types', measurement: 'tele metry,x', tags: { site: 'lab 1' } }), SILENT_LOGGER);
    const text = 'quote " backslash \\ comma, space = end';
    await sink.deliver([{ device: 'd-1', seq: 1, ts: 1_700_000_000_123, position: 0, data: { n: 42, big: -9_007_199_254_740_991, f: 21.5, ok: true, s: text } }]);
    await sink.close();
    const keys = await rows(influxd, 'types', 'SHOW FIELD KEYS FROM "tele metry,x"');
    assert.deepEqual(Object.fromEntries(keys.map((k) => [k.fieldKey, k.fieldType])), { big: 'integer', f: 'float', n: 'integer', ok: 'boolean', s: 'string' });
    const [row] = await rows(influxd, 'types', 'SELECT * FROM "tele metry,x"');
    assert.deepEqual(row, { time: 1_700_000_000_123, device: 'd-1', site: 'lab 1', n: 42, big: -9_007_199_254_740_991, f: 21.5, ok: true, s: text });
  });

  it('keeps readings of one device stamped in the same millisecond apart, and a repeat on its own point', async () => {
    const sink = new InfluxSink(influxConfig(influxd, { database: 'samems' }), SILENT_LOGGER);
    const batch = [1, 2, 3].map((seq) => ({ device: 'd', seq, ts: 5_000, position: seq - 1, data: { seq } }));
    await sink.deliver(batch);
    await sink.deliver(batch);
    const found = await rows(influxd, 'samems', 'SELECT seq FROM telemetry');
    assert.deepEqual(found.map((r) => [r.time, r.seq]), [[5_000, 1], [5_000, 2], [5_000, 3]]);
  });

  it('learns a float field from the server and resends whole values as floats', async () => {
    const sink = new InfluxSink(influxConfig(influxd, { database: 'learn' }), SILENT_LOGGER);
    await sink.deliver([{ device: 'd', seq: 1, ts: 1_000, position: 0, data: { temp: 21.5 } }]);
    await sink.deliver([{ device: 'd', seq: 2, ts: 2_000, position: 1, data: { temp: 21 } }, { device: 'd', seq: 3, ts: 3_000, position: 2, data: { temp: 22 } }]);
    const found = await rows(influxd, 'learn', 'SELECT temp FROM telemetry');
    assert.deepEqual(found.map((r) => r.temp), [21.5, 21, 22]);
  });

  it('throws a refusal for a value the server can never take; the runner sets it aside and writes the rest', async () => {
    const sink = new InfluxSink(influxConfig(influxd, { database: 'reject' }), SILENT_LOGGER);
    await sink.deliver([{ device: 'd', seq: 1, ts: 1_000, position: 0, data: { v: 'text' } }]);
    const batch = [{ device: 'd', seq: 2, ts: 2_000, position: 1, data: { v: 5 } }, { device: 'd', seq: 3, ts: 3_000, position: 2, data: { v: 'ok' } }];
    await assert.rejects(sink.deliver(batch), (err: unknown) => isSinkRefused(err));
    const store = new MemoryStoreReader();
    store.append(batch.map(({ position: _, ...r }) => r));
    const runner = new SinkRunner({ sink, store, settings: TEST_RUNNER_SETTINGS, log: SILENT_LOGGER });
    runner.start();
    await waitUntil(() => runner.stats().position >= 2, 'the runner is past both readings', 30_000);
    await runner.close();
    assert.deepEqual([runner.stats().delivered, runner.stats().rejected], [1, 1]);
    assert.deepEqual((await rows(influxd, 'reject', 'SELECT v FROM telemetry')).map((r) => r.v), ['text', 'ok']);
  });

  it('splits a batch into writes bounded by maxPoints and maxBytes', async () => {
    const store = new MemoryStoreReader();
    store.append(Array.from({ length: 250 }, (_, i) => ({ device: `d${i % 3}`, seq: i + 1, ts: 1_000 + i, data: { i, pad: 'x'.repeat(100) } })));
    const sink = new InfluxSink(influxConfig(influxd, { database: 'chunks', maxPoints: 40, maxBytes: 2048 }), SILENT_LOGGER);
    const runner = new SinkRunner({ sink, store, settings: { ...TEST_RUNNER_SETTINGS, batchSize: 100 }, log: SILENT_LOGGER });
    runner.start();
    await waitUntil(() => runner.stats().delivered >= 250, 'all 250 readings are delivered', 30_000);
    await runner.close();
    const [count] = await rows(influxd, 'chunks', 'SELECT count(i) FROM telemetry');
    assert.equal(count?.count, 250);
  });

  it('an outage of InfluxDB, then every point arrives', async () => {
    const store = new MemoryStoreReader();
    const sink = new InfluxSink(influxConfig(influxd, { database: 'outage' }), SILENT_LOGGER);
    const runner = new SinkRunner({ sink, store, settings: TEST_RUNNER_SETTINGS, log: SILENT_LOGGER });
    runner.start();
    try {
      store.append(Array.from({ length: 30 }, (_, i) => ({ device: 'd', seq: i + 1, ts: 10_000 + i, data: { i } })));
      await influxd.pause();
      store.append(Array.from({ length: 30 }, (_, i) => ({ device: 'd', seq: i + 31, ts: 10_030 + i, data: { i: i + 30 } })));
      await waitUntil(() => runner.stats().failures > 0, 'the runner saw a failure while InfluxDB is paused', 30_000);
      assert.equal(runner.stats().state, 'retrying');
      await new Promise((r) => setTimeout(r, 1_000));
      await influxd.start();
      await waitUntil(() => runner.stats().delivered >= 60, 'all 60 readings are delivered after the outage', 30_000);
    } finally {
      await influxd.start();
      await runner.close();
    }
    const found = await rows(influxd, 'outage', 'SELECT i FROM telemetry');
    assert.deepEqual(found.map((r) => r.i), Array.from({ length: 60 }, (_, i) => i));
  });
});

describe('influx sink over https', () => {
  it('writes to an InfluxDB served with a certificate from a private CA (ca option)', async () => {
    const pki = await makeTestPki();
    const paths = pkiPaths(pki.dir);
    const secure = await startInfluxd({ tls: { cert: paths.serverCert, key: paths.serverKey, ca: paths.caCert } });
    try {
      const sink = new InfluxSink(influxConfig(secure, { host: 'localhost', protocol: 'https', ca: paths.caCert, database: 'tls' }), SILENT_LOGGER);
      await sink.deliver([{ device: 'd', seq: 1, ts: 1_000, position: 0, data: { v: 1 } }]);
      const untrusted = new InfluxSink(influxConfig(secure, { host: 'localhost', protocol: 'https', database: 'tls' }), SILENT_LOGGER);
      await assert.rejects(untrusted.deliver([{ device: 'd', seq: 2, ts: 2_000, position: 1, data: { v: 2 } }]));
      assert.equal((await rows(secure, 'tls', 'SELECT v FROM telemetry')).length, 1);
    } finally {
      await secure.stop();
      await pki.cleanup();
    }
  });
});
