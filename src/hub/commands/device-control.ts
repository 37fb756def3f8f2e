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
import { CommandCenter, isStoredCommand, type CommandListener, type CommandRecord, type CommandRequest } from './command-center.js';
import { DesiredConfigs, isConfigAck, isDesiredDocument, type ConfigRefusal, type ConfigView, type DesiredDocument } from './desired-configs.js';
import { JournalStore } from './keyed-journal.js';

/** What operators may ask about commands (the command center; in cluster mode, the cluster's queue in front of it). */
export interface CommandService {
  /** The allow-listed names, in the config's order (what a dashboard with the `command` scope may offer). */
  readonly names: readonly string[];
  /** Checks and queues a command; resolves with it `queued` or `refused`. `listener` hears every later state, the final one last. */
  submit(request: CommandRequest, token: string, listener?: CommandListener): Promise<CommandRecord>;
  /** Records a command refused before it reached the service (`rate_limited` at the console). */
  refuse(request: CommandRequest, token: string, error: string): CommandRecord;
}

/** What operators may ask about desired configuration. */
export interface ConfigService {
  /** A device's desired document and last ack, as this hub knows them now. */
  get(device: string): ConfigView;
  /** The same, read where it is kept (cluster mode: the bucket's leader, not this hub's copy); absent where `get` is that already. */
  read?(device: string): Promise<ConfigView>;
  /** Stores a new version of a device's document and sends it to the device if it is online. */
  set(device: string, desired: unknown, token: string): Promise<{ version: number } | { refused: ConfigRefusal }>;
  /** The document of a glob of devices, or null. */
  getGlob(glob: string): DesiredDocument | null;
  /** Glob documents kept. */
  readonly globCount: number;
  /** Stores a new version of a glob's document and sends it to the online devices that now get it. */
  setGlob(glob: string, desired: unknown, token: string): Promise<{ version: number } | { refused: ConfigRefusal }>;
  /** Forgets a glob's document. */
  deleteGlob(glob: string, token: string): Promise<{ deleted: boolean } | { refused: ConfigRefusal }>;
}

/** Commands and desired configuration of one hub. */
export interface DeviceControl {
  readonly commands: CommandService;
  readonly configs: ConfigService;
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
