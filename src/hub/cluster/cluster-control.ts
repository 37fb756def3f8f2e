/**
 * What operators may do to devices, in cluster mode: the {@link DeviceControl}
 * of a cluster hub. Commands go through the cluster's queue
 * (cluster-commands.ts) in front of this hub's command center, desired
 * configuration lives in the cluster's bucket (cluster-configs.ts); the data
 * folder holds none of it, so a lost machine takes none of it along.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { readIntOptions } from '../../config/config-reader.js';
import type { Logger } from '../../log.js';
import type { MetricsRegistry } from '../../metrics.js';
import { CommandCenter, type CommandRecord } from '../commands/command-center.js';
import type { DeviceControl } from '../commands/device-control.js';
import type { KeyedStore } from '../commands/keyed-journal.js';
import type { HubConfig } from '../config.js';
import { limitsForPlan } from '../device-limits.js';
import { DEFAULT_CLUSTER_KV_TIMEOUT_MS } from './cluster-bucket.js';
import { ClusterCommands } from './cluster-commands.js';
import { ClusterDesiredConfigs } from './cluster-configs.js';

/**
 * How long past a command's ttl and timeout the hub that accepted it waits
 * for its outcome before it reports it `lost` (the hub that had the device
 * stopped). Covers a hub's takeover and a slow bucket with room to spare.
 * @defaultValue 30 s
 */
export const DEFAULT_COMMAND_GRACE_MS = 30_000;
/** Wait before a watch of the commands or config bucket is opened again after it ended on an error. @defaultValue 1 s */
export const DEFAULT_CONTROL_WATCH_RETRY_MS = 1_000;

/** Cluster tuning of commands and desired configuration (part of `HubOptions.cluster`). */
export interface ClusterControlOptions {
  /** @defaultValue {@link DEFAULT_COMMAND_GRACE_MS} */
  readonly commandGraceMs?: number;
  /** @defaultValue {@link DEFAULT_CONTROL_WATCH_RETRY_MS} */
  readonly controlWatchRetryMs?: number;
}

/** {@link ClusterControlOptions} with every default filled in. */
export type ResolvedClusterControlOptions = Required<ClusterControlOptions>;

/** Fills in the defaults and checks the values; throws FH_ERR_CONFIG naming the option (`clusterOptions.commandGraceMs`). */
export function resolveClusterControlOptions(options: ClusterControlOptions): ResolvedClusterControlOptions {
  // Options come from code with the other cluster options beside them: unread keys are not refused.
  return readIntOptions(options, 'clusterOptions', {
    commandGraceMs: [0, DEFAULT_COMMAND_GRACE_MS],
    controlWatchRetryMs: [10, DEFAULT_CONTROL_WATCH_RETRY_MS],
  });
}

/** What {@link openClusterDeviceControl} needs. */
export interface ClusterDeviceControlOptions {
  readonly config: HubConfig;
  readonly planOf: (device: string) => string | undefined;
  readonly connection: NatsConnection;
  readonly node: string;
  readonly replicas: number;
  readonly prefix?: string;
  readonly tuning: ClusterControlOptions;
  readonly metrics: MetricsRegistry;
  readonly log: Logger;
}

/** The center's records of the commands this hub runs: in memory, since the bucket's record is what outlives the hub. */
class MemoryRecords implements KeyedStore<CommandRecord> {
  readonly initial: ReadonlyMap<string, CommandRecord> = new Map();

  put(): Promise<void> {
    return Promise.resolve();
  }

  delete(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Opens the buckets (creating them) and starts watching them. Throws FH_ERR_CONFIG on a bad option. */
export async function openClusterDeviceControl(options: ClusterDeviceControlOptions): Promise<DeviceControl> {
  const { config, planOf, metrics, log } = options;
  const tuning = resolveClusterControlOptions(options.tuning);
  const common = {
    connection: options.connection, replicas: options.replicas, log,
    kvTimeoutMs: DEFAULT_CLUSTER_KV_TIMEOUT_MS, watchRetryMs: tuning.controlWatchRetryMs,
    ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
  };
  const center = new CommandCenter({
    allowList: config.commands,
    planOf,
    maxQueuedPerDevice: config.console.maxQueuedCommandsPerDevice,
    maxTtlMs: config.console.maxCommandTtlMs,
    maxArgs: config.limits.maxFields,
    store: new MemoryRecords(),
    metrics,
    log,
  });
  let commands: ClusterCommands;
  try {
    commands = await ClusterCommands.open({
      ...common, node: options.node, center, maxQueuedPerDevice: config.console.maxQueuedCommandsPerDevice, graceMs: tuning.commandGraceMs,
    });
  } catch (err) {
    await center.close();
    throw err;
  }
  let configs: ClusterDesiredConfigs;
  try {
    configs = await ClusterDesiredConfigs.open({
      ...common, limitsOf: (device) => limitsForPlan(config, planOf(device)).limits, globLimits: config.limits, maxGlobs: config.console.maxConfigGlobs, metrics,
    });
  } catch (err) {
    await commands.close();
    await center.close();
    throw err;
  }
  let closing: Promise<void> | null = null;
  return {
    commands,
    configs,
    participants: [commands, configs],
    close() {
      closing ??= Promise.all([commands.close(), configs.close()]).then(() => center.close());
      return closing;
    },
  };
}
