/**
 * Starts certificate renewal when the hub can sign: an issuing CA in the PKI
 * folder (its key decrypted with the configured passphrase) and `renewal`
 * not disabled. Also the periodic check: pending certificates unused for
 * `pendingTtl` are revoked, and the gauge and log line of device
 * certificates close to expiry (less than a tenth of their lifetime left,
 * past the latest point the hub asks them to renew).
 *
 * In cluster mode the records live in the cluster (cluster-renewal.ts):
 * the PKI folder's inventory is this machine's file, which the other hubs
 * do not see.
 */
import { readFile } from 'node:fs/promises';
import { FleethubError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { MetricsRegistry } from '../../metrics.js';
import { readPassphrase } from '../../pki/ca-passphrase.js';
import { loadInventory, statusOf, type InventoryFile, type StoredDevice } from '../../pki/inventory.js';
import { hasIssuingCa, loadIssuingCa } from '../../pki/loaded-ca.js';
import { pkiPaths } from '../../pki/paths.js';
import { FileRenewalLedger, type RenewalLedger, type RenewalPolicy } from '../../pki/renewal.js';
import type { SigningCa } from '../../pki/devices.js';
import { closeToExpiry } from '../../pki/renewal-timing.js';
import type { HubConfig } from '../config.js';
import { RenewalParticipant } from './renewal-participant.js';

/** Device ids named in one `renewal.expiring` line (the gauge has the count). */
export const MAX_EXPIRING_IDS_LOGGED = 10;

/** What a cluster ledger is opened with. */
export interface ClusterLedgerParts {
  readonly dir: string;
  readonly signer: SigningCa;
  readonly days: number;
  readonly policy: RenewalPolicy;
  /** `renewal.perMinute`: held for the whole cluster. */
  readonly perMinute: number;
}

/** Renewal on a running hub. */
export interface Renewal {
  readonly participant: RenewalParticipant;
  /** Runs the periodic check now (pending certificates, the expiry gauge). */
  check(): Promise<void>;
  /** Stops the periodic check. Idempotent. */
  close(): Promise<void>;
}

/** What cluster mode gives renewal: the records go to the cluster's renewal bucket (cluster-renewal.ts). */
export interface RenewalCluster {
  /** Opens the cluster ledger for a hub that signs with `signer`. */
  readonly ledger: (parts: ClusterLedgerParts) => Promise<RenewalLedger & {
    /** The inventory decisions are taken from. */
    inventory(): Promise<InventoryFile>;
    /** A device's current certificate, the cluster's records applied. */
    current(listed: StoredDevice): Promise<StoredDevice | undefined>;
  }>;
}

/** Renewal, or null when it is off (no issuing CA, or `renewal.enabled` false). FH_ERR_CONFIG when the issuing CA is there but cannot sign. */
export async function openRenewal(config: HubConfig, metrics: MetricsRegistry, log: Logger, cluster: RenewalCluster | null = null): Promise<Renewal | null> {
  const settings = config.renewal;
  const paths = pkiPaths(config.pkiDir);
  if (!settings.enabled || !(await hasIssuingCa(paths.dir))) return null;
  let ledger: RenewalLedger;
  // Aborted by close(): no change waits for a PKI lock a command holds (renewal.ts).
  const closing = new AbortController();
  let inventoryOf: () => Promise<InventoryFile> = () => loadInventory(paths.dir);
  // Cluster mode: a device the cluster renewed has another current certificate than the inventory's.
  let currentOf: (device: StoredDevice) => Promise<StoredDevice | undefined> = (device) => Promise.resolve(device);
  try {
    const passphrase = await readPassphrase({ file: config.provisioning.issuingPassphraseFile, env: config.provisioning.issuingPassphraseEnv });
    // An encrypted issuing key whose passphrase the hub was not given: the operator signs with the CLI only.
    if (passphrase === null && (await readFile(paths.issuingKey, 'utf8')).includes('ENCRYPTED')) {
      log.log('warn', 'renewal.off', { reason: `${paths.issuingKey} is encrypted and the hub has no passphrase for it (provisioning.issuingPassphraseFile or env ${config.provisioning.issuingPassphraseEnv})` });
      return null;
    }
    const issuing = await loadIssuingCa(paths.dir, passphrase);
    if (issuing === null) throw new Error(`no issuing CA in ${paths.dir}`);
    const common = { dir: paths.dir, signer: { ca: issuing, role: 'issuing' as const }, days: settings.deviceDays, policy: { minIntervalMs: settings.minIntervalMs, allowEarly: settings.allowEarly } };
    if (cluster === null) ledger = new FileRenewalLedger({ ...common, issuingPassphrase: passphrase, signal: closing.signal });
    else {
      const clustered = await cluster.ledger({ ...common, perMinute: settings.perMinute });
      ledger = clustered;
      inventoryOf = () => clustered.inventory();
      currentOf = (device) => clustered.current(device);
    }
  } catch (err) {
    throw new FleethubError('FH_ERR_CONFIG', `renewal: the hub cannot sign with the issuing CA: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const participant = new RenewalParticipant({ config: settings, ledger, pending: await ledger.pendingSerials(), commitAnyHandshake: cluster !== null, metrics, log });
  const expiring = metrics.gauge('fleethub_device_certs_expiring', 'Active device certificates with less than a tenth of their lifetime left (past the latest point the hub asks them to renew)');
  const check = async (): Promise<void> => {
    const revoked = await ledger.expirePending(settings.pendingTtlMs);
    if (revoked.length > 0) log.log('warn', 'renewal.pending_revoked', { count: revoked.length, ids: revoked.slice(0, MAX_EXPIRING_IDS_LOGGED).join(' ') });
    participant.pendingRevoked(revoked);
    participant.setPending(await ledger.pendingSerials());
    const now = Date.now();
    const isClose = (d: StoredDevice | undefined): d is StoredDevice => d !== undefined && statusOf(d) === 'active' && closeToExpiry(Date.parse(d.notBefore), Date.parse(d.notAfter), now);
    const candidates = (await inventoryOf()).devices.filter(isClose);
    const close: StoredDevice[] = [];
    for (const d of candidates) {
      const current = await currentOf(d);
      if (isClose(current)) close.push(current);
    }
    expiring.set(close.length);
    if (close.length > 0) log.log('warn', 'renewal.expiring', { count: close.length, ids: close.slice(0, MAX_EXPIRING_IDS_LOGGED).map((d) => d.id).join(' ') });
  };
  let running: Promise<void> = check();
  await running;
  const timer = setInterval(() => {
    running = running.then(check).catch((err: unknown) => log.log('error', 'renewal.check_failed', { error: err instanceof Error ? err.message : String(err) }));
  }, settings.checkIntervalMs);
  timer.unref();
  log.log('info', 'renewal.on', { deviceDays: settings.deviceDays, perMinute: settings.perMinute, minIntervalMs: settings.minIntervalMs, allowEarly: settings.allowEarly || undefined });
  let closed: Promise<void> | null = null;
  return {
    participant,
    check: () => (running = running.then(check)),
    close() {
      clearInterval(timer);
      // After the listener closed: queued renewals and commits still run, but none waits out a held PKI lock.
      closing.abort();
      closed ??= running.catch(() => undefined).then(() => ledger.idle());
      return closed;
    },
  };
}
