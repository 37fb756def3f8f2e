/**
 * `--config FILE` on the PKI commands whose changes hubs enforce or whose
 * view a cluster changes (`provision batch add|revoke`, `device list`): the
 * hub's PKI folder, and in cluster mode a way to publish the folder to the
 * cluster and to read the devices as the cluster knows them. src/pki knows
 * no hub and no cluster: the executable gives the reader (src/hub-target.ts).
 */
import type { Command } from 'commander';
import type { DeviceRecord } from '../inventory.js';
import { refuseTwoPkiFolders, resolvePkiDir } from './pki-options.js';

/** What a publish to the cluster wrote: the revisions of the keys hubs follow. */
export interface PublishedPki {
  readonly inventory: number;
  /** Null: the folder has no claim CA (no batch yet). */
  readonly claimCrl: number | null;
}

/** A cluster hub's side of the folder (the hub's config has a `cluster` section). */
export interface ClusterTarget {
  /** Publishes the folder's CRLs and inventory to the cluster (every hub follows them). `issuingPassphrase` unlocks an encrypted issuing.key when hubs' revocations must be merged into its CRL. */
  publish(issuingPassphrase: string | null): Promise<PublishedPki>;
  /** Every device as the cluster knows it: the folder's and the published inventory's, with the certificates hubs renewed or provisioned, and the revocations they recorded. */
  devices(): Promise<DeviceRecord[]>;
}

/** A hub's config as these commands read it. */
export interface HubTarget {
  readonly pkiDir: string;
  /** Null: not a cluster hub (a single hub reads the folder itself). */
  readonly cluster: ClusterTarget | null;
}

/** Reads a hub's config file (FH_ERR_CONFIG naming the key when it is bad). */
export type HubTargetReader = (path: string) => Promise<HubTarget>;

/** Adds `--config <file>` when the executable gives a reader; `what` says what it does besides naming the folder. */
export function hubTargetOption(cmd: Command, reader: HubTargetReader | undefined, what: string): Command {
  return reader === undefined ? cmd : cmd.option('--config <file>', `a hub's JSON config: its pkiDir, and with \`cluster\` ${what}`);
}

/** The PKI folder and, with `--config` naming a cluster hub, its cluster; `--pki` and `--config` together are a usage error. */
export async function resolveHubTarget(flags: { pki?: string; config?: string }, reader: HubTargetReader | undefined): Promise<HubTarget> {
  refuseTwoPkiFolders(flags);
  if (flags.config === undefined || reader === undefined) return { pkiDir: resolvePkiDir(flags.pki), cluster: null };
  return reader(flags.config);
}
