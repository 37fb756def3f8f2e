/**
 * The hub's side of `--config FILE` on the PKI commands that change what
 * hubs enforce or whose view a cluster changes (`provision batch add|revoke`,
 * `device list`): the hub's PKI folder, and for a cluster hub the publish and
 * the cluster's device list. The PKI commands know no hub (src/pki/commands/
 * hub-target.ts); src/cli.ts gives them this reader.
 */
import { loadHubConfig } from './hub/config-file.js';
import type { HubTarget } from './pki/commands/hub-target.js';

/** Reads the hub config at `path` (FH_ERR_CONFIG naming the key when it is bad). */
export async function readHubTarget(path: string): Promise<HubTarget> {
  const { hub } = await loadHubConfig(path);
  const { pkiDir, cluster } = hub;
  if (cluster === null) return { pkiDir, cluster: null };
  // The cluster's code is loaded only when used: every command of the CLI, `serve` among them, loads this module.
  return {
    pkiDir,
    cluster: {
      async publish(issuingPassphrase) {
        const { publishPkiToCluster } = await import('./hub/cluster/publish-pki.js');
        const published = await publishPkiToCluster(cluster, pkiDir, { issuingPassphrase });
        return { inventory: published.inventory, claimCrl: published.claimCrl };
      },
      async devices() {
        const { clusterDevices } = await import('./hub/cluster/cluster-device-list.js');
        return clusterDevices(cluster, pkiDir);
      },
    },
  };
}
