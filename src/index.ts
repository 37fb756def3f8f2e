/**
 * fleethub as a library: what a program embedding the hub may use. Anything
 * not exported here is internal and may change without notice.
 *
 * The package's `exports` map lets a program import this module
 * (`fleethub`) and the simulator's (`fleethub/sim`, firmware-sim/index.ts),
 * and nothing else: a deep import such as `fleethub/dist/src/hub/hub.js`
 * fails with ERR_PACKAGE_PATH_NOT_EXPORTED.
 *
 * @example
 * ```ts
 * import { createHub, createBridge, resolveHubConfig, resolveSinkConfigs } from 'fleethub';
 * const { hub: config, sinks } = resolveHubConfig({ device: { port: 0 } }, { baseDir: process.cwd() });
 * const hub = createHub(config);
 * const { devicePort } = await hub.listen();
 * const bridge = createBridge({ store: hub.store, sinks: resolveSinkConfigs(sinks), dataDir: config.dataDir, log: createLogger() });
 * bridge.start();
 * // ... later
 * await bridge.close();
 * await hub.close();
 * ```
 */

// The hub
export { createHub, type Hub, type HubOptions, type HubPorts } from './hub/hub.js';
export {
  resolveHubConfig,
  DEFAULT_LIMITS,
  DEFAULT_DEVICE_PORT,
  DEFAULT_CONSOLE_PORT,
  type HubConfig,
  type DeviceLimits,
  type DeviceListenerConfig,
  type ProxyProtocolConfig,
  type ConsoleListenerConfig,
  type ResolveContext,
  type HubConfigInput,
} from './hub/config.js';
export { DEFAULT_STORE_CONFIG, type StoreConfig } from './store/store-config.js';
export type { LiveFeed, FeedEvent } from './hub/live-feed.js';
export { openStore } from './store/log-store.js';
export type {
  Store,
  StoreReader,
  StoreStats,
  Reading,
  StoredReading,
  TelemetryData,
  TelemetryValue,
  AppendOutcome,
  ReadResult,
} from './store/types.js';

// The bridge
export {
  createBridge,
  resolveSinkConfigs,
  SinkRefusedError,
  DEFAULT_RUNNER_SETTINGS,
  type Bridge,
  type BridgeOptions,
  type Sink,
  type SinkDrops,
  type SinkConfig,
  type RunnerSettings,
  type SinkGate,
  type SinkGateEvents,
  type SinkGateHandle,
} from './bridge/index.js';

// The PKI
export {
  initCa,
  issueServerCert,
  addDevice,
  addDevices,
  revokeDevice,
  writeCrl,
  readInventory,
  exportEsp32Header,
  isValidDeviceId,
  pkiPaths,
  type KeyType,
  type DeviceRecord,
} from './pki/index.js';

// Shared
export { FleethubError, ERRORS, EXIT, CLOSE, WIRE_ERROR_CODES, type ErrorCode, type WireErrorCode } from './errors.js';
export { createLogger, SILENT_LOGGER, type Logger, type LogLevel } from './log.js';
export { MetricsRegistry } from './metrics.js';
