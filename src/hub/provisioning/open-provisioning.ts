/**
 * Starts provisioning by claim when the PKI folder is ready for it: a claim
 * CA (made by the first `fleethub provision batch add`) and an issuing CA
 * (which signs what the hub issues; its key decrypted with the configured
 * passphrase). Without a claim CA provisioning is off and `/v1/provision`
 * answers 404 like any unknown path.
 */
import { readFile } from 'node:fs/promises';
import { FleethubError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { readPassphrase } from '../../pki/ca-passphrase.js';
import { loadIssuingCa } from '../../pki/loaded-ca.js';
import { pkiPaths } from '../../pki/paths.js';
import { FileProvisioningLedger } from '../../pki/provisioning.js';
import { defaultDeviceDays } from '../../pki/validity.js';
import type { DeviceListenerCluster } from '../cluster/cluster-hub.js';
import type { HubConfig } from '../config.js';
import type { HubMetrics } from '../hub-metrics.js';
import { renewalPolicy } from '../renewal/renewal-config.js';
import { ProvisionEndpoint } from './provision-endpoint.js';

/** The endpoint, or null when the PKI folder has no claim CA. FH_ERR_CONFIG when it has one but cannot sign. */
export async function openProvisioning(config: HubConfig, metrics: HubMetrics, log: Logger, cluster: Pick<DeviceListenerCluster, 'provisioning'> | null = null): Promise<ProvisionEndpoint | null> {
  const paths = pkiPaths(config.pkiDir);
  const claimCaPem = await readFile(paths.claimCaCert, 'utf8').catch(() => null);
  if (claimCaPem === null) return null;
  const settings = config.provisioning;
  let issuing;
  try {
    const passphrase = await readPassphrase({ file: settings.issuingPassphraseFile, env: settings.issuingPassphraseEnv });
    issuing = await loadIssuingCa(paths.dir, passphrase);
    if (issuing === null) throw new Error(`no issuing CA in ${paths.dir} (fleethub ca issuing init)`);
    // With renewal on, a year: the device renews before it ends.
    const days = settings.deviceDays ?? defaultDeviceDays('issuing', renewalPolicy(config.renewal));
    const signer = { ca: issuing, role: 'issuing' as const };
    // Cluster mode: the records in the cluster, so an id is provisioned once whichever hub a device reaches.
    const ledger = cluster === null
      ? new FileProvisioningLedger({ dir: paths.dir, signer, days, issuingPassphrase: passphrase })
      : cluster.provisioning({ dir: paths.dir, signer, days, perBatchPerMinute: settings.perBatchPerMinute });
    log.log('info', 'provisioning.on', { path: '/v1/provision', deviceDays: days, perBatchPerMinute: settings.perBatchPerMinute, perIpPerMinute: settings.perIpPerMinute });
    return new ProvisionEndpoint({ config: settings, claimCaPem, ledger, metrics, log });
  } catch (err) {
    throw new FleethubError('FH_ERR_CONFIG', `provisioning: the hub cannot sign with the issuing CA: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
