/**
 * The simulator's public surface, for scripts and other tests that want a
 * fleet or a single simulated device without the CLI. Everything else in
 * firmware-sim is internal.
 */
export { runSim, runSimOrFail, type SimRunIo, type SimRunResult } from './sim-run.js';
export { runFleet, type FleetRunInput } from './fleet.js';
export { SimDevice, type SimDeviceOptions, type DeviceCredentials, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_HELLO_TIMEOUT_MS } from './sim-device.js';
export { BEHAVIOR_PROFILES, type BehaviorProfile } from './behaviors.js';
export { FleetStats } from './fleet-stats.js';
export { buildReport, formatReportTable, normalRunFailure, type SimReport, type FleetEndState } from './report.js';
export { renderReportHtml } from './report-html.js';
export { fleetIds, loadFleetCredentials, makeBadCredentials, provisionFleet, type BadCertKind } from './device-credentials.js';
export {
  BEHAVIORS, DEFAULT_SIM_CONNECT_RATE, DEFAULT_SIM_DEVICES, DEFAULT_SIM_DRAIN_TIMEOUT_MS, DEFAULT_SIM_DURATION_MS, DEFAULT_SIM_PREFIX,
  DEFAULT_SIM_RATE, DEFAULT_SIM_STORM_EVERY_MS, DEFAULT_SIM_URL, deviceId, resolveSimOptions,
  type BehaviorName, type SimOptions, type SimOptionsInput, type TlsVersion,
} from './sim-options.js';
export { DEFAULT_OUTBOX_CAPACITY } from './outbox.js';
