/**
 * The bridge: one runner per sink, each reading the store from its own
 * persisted position (SPEC: Sinks). This is what the `serve` command wires:
 * `resolveSinkConfigs(raw)` at start-up, then `createBridge(...)`, `start()`,
 * `metrics()` on each `/metrics` scrape, `close()` at shutdown. In cluster
 * mode a {@link SinkGate} (the sink leases) decides which hub runs each
 * sink: the runner runs while its hub holds the sink's lease.
 */
import type { Logger } from '../log.js';
import type { StoreReader } from '../store/types.js';
import { InfluxSink } from './influx-sink.js';
import { MqttSink } from './mqtt-sink.js';
import { RejectedReadingsFile, rejectedReadingsPath } from './rejected-readings.js';
import type { SinkConfig } from './sink-config.js';
import { renderSinkMetrics } from './sink-metrics.js';
import { SinkRunner, type SinkRunnerStats } from './sink-runner.js';
import type { SinkGate, SinkGateHandle } from './sink-gate.js';
import { DEFAULT_RUNNER_SETTINGS, SINK_NAME_PATTERN, type RunnerSettings } from './sink-settings.js';
import type { Sink } from './sink.js';
import { ThingSpeakSink } from './thingspeak-sink.js';

export type { Sink, SinkDrops } from './sink.js';
export { SinkRefusedError, isSinkRefused } from './sink.js';
export type { SinkRunnerStats } from './sink-runner.js';
export type { SinkGate, SinkGateEvents, SinkGateHandle } from './sink-gate.js';
export { SinkRunner, cursorName } from './sink-runner.js';
export { resolveSinkConfigs, SINK_TYPES } from './sink-config.js';
export type { SinkConfig, SinkType } from './sink-config.js';
export { DEFAULT_RUNNER_SETTINGS, DEFAULT_REJECTED_FILE_BYTES, type RunnerSettings } from './sink-settings.js';
export type { MqttSinkConfig, MqttConnectionConfig } from './mqtt-config.js';
export type { InfluxSinkConfig } from './influx-config.js';
export type { ThingSpeakSinkConfig, ThingSpeakHttpSinkConfig, ThingSpeakMqttSinkConfig, ThingSpeakChannel } from './thingspeak-config.js';
export { rejectedReadingsPath } from './rejected-readings.js';

/** Options of {@link createBridge}. */
export interface BridgeOptions {
  /** Where the readings come from; the bridge only reads it and saves its cursors. */
  readonly store: StoreReader;
  /**
   * The sinks: configurations from {@link resolveSinkConfigs}, and/or sink
   * instances of your own type (a class implementing {@link Sink}; its
   * optional `settings` and `type` set its runner settings and metrics
   * label). Names must be unique.
   */
  readonly sinks: ReadonlyArray<SinkConfig | Sink>;
  /**
   * The hub's data folder: each sink's refused readings are kept in
   * `<dataDir>/sinks/<name>.rejected.jsonl`. null: they are only counted and
   * logged (with their data).
   */
  readonly dataDir: string | null;
  readonly log: Logger;
  /**
   * Cluster mode: which hub runs each sink (the cluster's sink leases). A
   * runner runs only while this hub holds its sink; it starts from the
   * saved position when the hub gets it and stops at once, without saving,
   * when the hub loses it. {@link Bridge.close} stops the runners, then
   * releases every sink so another hub takes over at once. The gate stays
   * the caller's to close, after the bridge. @defaultValue null: every runner runs on this hub
   */
  readonly gate?: SinkGate | null;
}

/** Running sink runners. */
export interface Bridge {
  /** Starts every runner (each catches up from its saved position); with a gate, asks for every sink and starts each runner once its sink is held. */
  start(): void;
  /** Each runner's figures. */
  stats(): readonly SinkRunnerStats[];
  /** Prometheus text for the per-sink metrics (delivered, failed, lag, state, dropped). */
  metrics(): string;
  /** Stops the runners after their in-flight delivery and saves positions (then, with a gate, releases the sinks). Idempotent. */
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

/** True for a sink instance (it delivers), false for a configuration. */
function isSink(entry: SinkConfig | Sink): entry is Sink {
  return typeof (entry as Partial<Sink>).deliver === 'function';
}

/** A sink and how its runner runs. */
function prepare(entry: SinkConfig | Sink, log: Logger): { sink: Sink; type: string; settings: RunnerSettings } {
  if (!isSink(entry)) return { sink: createSink(entry, log), type: entry.type, settings: entry };
  if (!SINK_NAME_PATTERN.test(entry.name)) {
    throw new TypeError(`sink name must be 1 to 64 of A-Z a-z 0-9 . _ - starting with a letter or digit, got ${JSON.stringify(entry.name)}`);
  }
  return { sink: entry, type: entry.type ?? 'custom', settings: { ...DEFAULT_RUNNER_SETTINGS, ...entry.settings } };
}

/** Creates one runner per sink (none runs before {@link Bridge.start}). */
export function createBridge(options: BridgeOptions): Bridge {
  const runners: Array<{ runner: SinkRunner; type: string }> = [];
  const names = new Set<string>();
  try {
    for (const entry of options.sinks) {
      if (names.has(entry.name)) throw new TypeError(`sink names must be unique, got ${JSON.stringify(entry.name)} twice`);
      names.add(entry.name);
      const { sink, type, settings } = prepare(entry, options.log);
      const rejected = options.dataDir === null ? null : new RejectedReadingsFile(rejectedReadingsPath(options.dataDir, sink.name), settings.rejectedFileBytes);
      runners.push({ runner: new SinkRunner({ sink, store: options.store, settings, log: options.log, rejected }), type });
    }
  } catch (err: unknown) {
    // A later sink failed to build: close the ones already made, then report.
    void Promise.all(runners.map(({ runner }) => runner.close()));
    throw err;
  }
  const gate = options.gate ?? null;
  const handles: SinkGateHandle[] = [];
  let started = false;
  let closing: Promise<void> | null = null;
  const startRunner = (runner: SinkRunner, type: string): void => {
    if (closing !== null) return;
    runner.start();
    options.log.log('info', 'sink.start', { sink: runner.name, type });
  };
  return {
    start() {
      if (closing !== null || started) return;
      started = true;
      for (const { runner, type } of runners) {
        if (gate === null) {
          startRunner(runner, type);
          continue;
        }
        handles.push(gate.hold(runner.name, {
          onAcquired: () => startRunner(runner, type),
          onLost: (reason) => {
            if (closing !== null) return;
            options.log.log('warn', 'sink.stop', { sink: runner.name, type, reason });
            void runner.stop();
          },
        }));
      }
    },
    stats: () => runners.map(({ runner }) => runner.stats()),
    metrics: () => renderSinkMetrics(runners.map(({ runner, type }) => ({ ...runner.stats(), type }))),
    close() {
      // The runners first (each saves its position while its sink is still held), then the sinks go to other hubs.
      closing ??= Promise.all(runners.map(({ runner }) => runner.close()))
        .then(() => Promise.all(handles.map((handle) => handle.release())))
        .then(() => undefined);
      return closing;
    },
  };
}
