/**
 * The bridge: one runner per configured sink, each reading the store from its
 * own persisted position (SPEC: Sinks). This is what the `serve` command
 * wires: `resolveSinkConfigs(raw)` at start-up, then `createBridge(...)`,
 * `start()`, `metrics()` on each `/metrics` scrape, `close()` at shutdown.
 */
import type { Logger } from '../log.js';
import type { StoreReader } from '../store/types.js';
import { InfluxSink } from './influx-sink.js';
import { MqttSink } from './mqtt-sink.js';
import type { SinkConfig } from './sink-config.js';
import { SinkRunner, type SinkRunnerStats } from './sink-runner.js';
import type { Sink } from './sink.js';
import { renderSinkMetrics } from './sink-metrics.js';
import { ThingSpeakSink } from './thingspeak-sink.js';

export type { Sink, SinkDrops } from './sink.js';
export type { SinkRunnerStats } from './sink-runner.js';
export { SinkRunner, cursorName } from './sink-runner.js';
export { resolveSinkConfigs } from './sink-config.js';
export type {
  SinkConfig,
  SinkType,
  MqttSinkConfig,
  InfluxSinkConfig,
  ThingSpeakSinkConfig,
  ThingSpeakChannel,
  RunnerSettings,
} from './sink-config.js';

/** Options of {@link createBridge}. */
export interface BridgeOptions {
  /** Where the readings come from; the bridge only reads it and saves its cursors. */
  readonly store: StoreReader;
  /** From {@link resolveSinkConfigs}. */
  readonly sinks: readonly SinkConfig[];
  readonly log: Logger;
  /**
   * Builds the sink for a configuration; replaceable to add a sink type in a
   * library use. @defaultValue {@link createSink}
   */
  readonly createSink?: (config: SinkConfig, log: Logger) => Sink;
}

/** Running sink runners. */
export interface Bridge {
  /** Starts every runner (each catches up from its saved position). */
  start(): void;
  /** Each runner's figures. */
  stats(): readonly SinkRunnerStats[];
  /** Prometheus text for the per-sink metrics (delivered, failed, lag, state, dropped). */
  metrics(): string;
  /** Stops the runners after their in-flight delivery and saves positions. Idempotent. */
  close(): Promise<void>;
}

/** The sink for a configuration. Throws FH_ERR_CONFIG when a file it names (ca, cert, key) cannot be read. */
export function createSink(config: SinkConfig, log: Logger): Sink {
  switch (config.type) {
    case 'mqtt':
      return new MqttSink(config);
    case 'influx':
      return new InfluxSink(config, log);
    case 'thingspeak':
      return new ThingSpeakSink(config);
  }
}

/** Creates one runner per configured sink (none runs before {@link Bridge.start}). */
export function createBridge(options: BridgeOptions): Bridge {
  const make = options.createSink ?? createSink;
  const runners: SinkRunner[] = [];
  try {
    for (const config of options.sinks) {
      runners.push(new SinkRunner({ sink: make(config, options.log), store: options.store, settings: config, log: options.log }));
    }
  } catch (err: unknown) {
    // A later sink failed to build: close the ones already made, then report.
    void Promise.all(runners.map((r) => r.close()));
    throw err;
  }
  const types = new Map(options.sinks.map((s) => [s.name, s.type]));
  let closing: Promise<void> | null = null;
  return {
    start() {
      if (closing !== null) return;
      for (const runner of runners) {
        runner.start();
        options.log.log('info', 'sink.start', { sink: runner.name, type: types.get(runner.name) });
      }
    },
    stats: () => runners.map((r) => r.stats()),
    metrics: () => renderSinkMetrics(runners.map((r) => ({ ...r.stats(), type: types.get(r.name) ?? 'unknown' }))),
    close() {
      closing ??= Promise.all(runners.map((r) => r.close())).then(() => undefined);
      return closing;
    },
  };
}
