/**
 * What operators may do to devices, opened once per hub: commands and
 * desired configuration, each over its durable records (single node: journals
 * in the data folder), and the protocol 2 participants the device listener
 * hands every v2 session.
 */
import type { Logger } from '../../log.js';
import type { MetricsRegistry } from '../../metrics.js';
import type { HubConfig } from '../config.js';
import { limitsForPlan } from '../device-limits.js';
import type { V2Participant } from '../v2-session.js';
import { CommandCenter, isStoredCommand } from './command-center.js';
import { DesiredConfigs, isConfigAck, isDesiredDocument } from './desired-configs.js';
import { JournalStore } from './keyed-journal.js';

/** Commands and desired configuration of one hub. */
export interface DeviceControl {
  readonly commands: CommandCenter;
  readonly configs: DesiredConfigs;
  /** For the device listener's v2 sessions. */
  readonly participants: readonly V2Participant[];
  /** Stops the timers and closes the journals. Idempotent. */
  close(): Promise<void>;
}

/** What {@link openDeviceControl} needs. */
export interface DeviceControlOptions {
  readonly config: HubConfig;
  /** A device's plan from the inventory (the listener follows it). */
  readonly planOf: (device: string) => string | undefined;
  readonly metrics: MetricsRegistry;
  readonly log: Logger;
}

/** Opens the journals in `config.dataDir` and takes up what they hold. */
export async function openDeviceControl(options: DeviceControlOptions): Promise<DeviceControl> {
  const { config, planOf, metrics, log } = options;
  const dir = config.dataDir;
  const [commandStore, documents, globDocuments, acks] = await Promise.all([
    JournalStore.open(dir, 'commands', isStoredCommand),
    JournalStore.open(dir, 'desired-config', isDesiredDocument),
    JournalStore.open(dir, 'desired-config-globs', isDesiredDocument),
    JournalStore.open(dir, 'config-acks', isConfigAck),
  ]);
  const commands = new CommandCenter({
    allowList: config.commands,
    planOf,
    maxQueuedPerDevice: config.console.maxQueuedCommandsPerDevice,
    maxTtlMs: config.console.maxCommandTtlMs,
    maxArgs: config.limits.maxFields,
    store: commandStore,
    metrics,
    log,
  });
  const configs = new DesiredConfigs({
    documents,
    globDocuments,
    acks,
    limitsOf: (device) => limitsForPlan(config, planOf(device)).limits,
    globLimits: config.limits,
    maxGlobs: config.console.maxConfigGlobs,
    metrics,
    log,
  });
  commands.start();
  let closing: Promise<void> | null = null;
  return {
    commands,
    configs,
    participants: [commands, configs],
    close() {
      closing ??= Promise.all([commands.close(), configs.close()]).then(() => undefined);
      return closing;
    },
  };
}
