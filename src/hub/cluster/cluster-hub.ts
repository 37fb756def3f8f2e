/**
 * What a hub runs in cluster mode beside its JetStream store, on the
 * store's NATS connection: device ownership (one live connection per device
 * across hubs), the CRL and inventory the CLI publishes, the sink leases,
 * and the quorum watch (SPEC: a hub that cannot reach a JetStream quorum
 * for 5 s answers /healthz 503 and closes its devices with 1013).
 *
 * The quorum signal is the store's own health: the store writes a
 * heartbeat every second and counts every acked reading as contact, and
 * reports unhealthy after `quorumLossMs` (5 s) without one. One signal
 * serves `/healthz`, the refusal of new devices and the close of live ones.
 *
 * Commands and desired configuration live in the cluster too
 * (cluster-control.ts): {@link ClusterHub.openControl} opens them once the
 * hub knows its devices' plans.
 */
import { readIntOptions } from '../../config/config-reader.js';
import { SILENT_LOGGER, type Logger } from '../../log.js';
import type { ClusterConfig } from '../../store/cluster-config.js';
import type { JetStreamStore } from '../../store/jetstream-store.js';
import type { CaRole } from '../crl-watcher.js';
import type { SessionOwnership } from '../device-session.js';
import type { TextSource } from '../text-source.js';
import type { MetricsRegistry } from '../../metrics.js';
import type { DeviceControl } from '../commands/device-control.js';
import type { HubConfig } from '../config.js';
import { openClusterDeviceControl, resolveClusterControlOptions, type ClusterControlOptions } from './cluster-control.js';
import { ClusterPki, crlKeyOf } from './cluster-crl.js';
import { ClusterPkiRecords, type ClusterProvisioningParts } from './cluster-pki-records.js';
import type { RenewalCluster } from '../renewal/open-renewal.js';
import type { ProvisioningLedger } from '../../pki/provisioning.js';
import { DeviceOwnership } from './device-ownership.js';
import { ClusterSessionOwnership } from './session-ownership.js';
import { SinkLeases } from './sink-lease.js';

/** What cluster mode adds to the device listener (SPEC: Cluster mode). */
export interface DeviceListenerCluster {
  /** One live connection per device across the cluster. */
  readonly ownership: SessionOwnership;
  /** Each CA's CRL as the CLI published it to the cluster, followed beside the PKI folder's (the newest wins). */
  readonly crl: (role: CaRole) => TextSource;
  /** The inventory the CLI published to the cluster: device plans come from it once one was published. */
  readonly inventory: TextSource;
  /** Provisioning records in the cluster (an id is provisioned once across hubs). */
  readonly provisioning: (parts: ClusterProvisioningParts) => ProvisioningLedger;
}

/** How often the hub looks at the store's health to act on a lost or regained quorum. @defaultValue 500 ms */
export const DEFAULT_QUORUM_CHECK_MS = 500;

/** Tuning of cluster mode that is not in the config file (tests and embedders). */
export interface ClusterHubOptions extends ClusterControlOptions {
  /** Names in NATS start with it (several fleets on one NATS cluster, or one test each). @defaultValue `fleethub` */
  readonly prefix?: string;
  /** Sink lease time to live (ms). @defaultValue DEFAULT_LEASE_TTL_MS */
  readonly leaseTtlMs?: number;
  /** How long a takeover request waits for the previous hub (ms). @defaultValue DEFAULT_TAKEOVER_TIMEOUT_MS */
  readonly takeoverTimeoutMs?: number;
  /** @defaultValue {@link DEFAULT_QUORUM_CHECK_MS} */
  readonly quorumCheckMs?: number;
  /** The longest a committed reading waits to go to the other hubs' dashboards with this hub's next ones (ms). @defaultValue DEFAULT_CLUSTER_FEED_BATCH_MS */
  readonly liveBatchMs?: number;
  /** The most bytes of readings in one live message. @defaultValue DEFAULT_CLUSTER_FEED_BATCH_BYTES */
  readonly liveBatchBytes?: number;
  /** The clock of the cluster-wide rate windows, ms since epoch (a test holds one window still). @defaultValue Date.now */
  readonly rateClock?: () => number;
}

/** What {@link openClusterHub} needs from the hub. */
export interface ClusterHubHooks {
  /** The quorum was lost for `quorumLossMs` (close the devices with 1013) or is back. */
  readonly onQuorum: (up: boolean) => void;
  readonly log?: Logger;
}

/** The cluster parts of one hub. */
export class ClusterHub {
  readonly ownership: ClusterSessionOwnership;
  readonly leases: SinkLeases;
  readonly #devices: DeviceOwnership;
  readonly #pki: ClusterPki;
  readonly #records: ClusterPkiRecords;
  readonly #quorumTimer: NodeJS.Timeout;
  readonly #store: JetStreamStore;
  readonly #cluster: ClusterConfig;
  readonly #options: ClusterHubOptions;
  #closed = false;

  private constructor(
    ownership: ClusterSessionOwnership, devices: DeviceOwnership, pki: ClusterPki, leases: SinkLeases, quorumTimer: NodeJS.Timeout,
    at: { store: JetStreamStore; cluster: ClusterConfig; options: ClusterHubOptions; records: ClusterPkiRecords },
  ) {
    this.#records = at.records;
    this.#store = at.store;
    this.#cluster = at.cluster;
    this.#options = at.options;
    this.ownership = ownership;
    this.#devices = devices;
    this.#pki = pki;
    this.leases = leases;
    this.#quorumTimer = quorumTimer;
  }

  /** What the device listener adds in cluster mode: ownership, and the published CRL and inventory. */
  listenerParts(): DeviceListenerCluster {
    return {
      ownership: this.ownership, crl: (role) => this.#pki.source(crlKeyOf(role)), inventory: this.#pki.source('inventory'),
      provisioning: (parts) => this.#records.provisioning(parts),
    };
  }

  /** Renewal records in the cluster, so a device renews on one hub and reconnects on any. */
  renewalParts(): RenewalCluster {
    return this.#records.renewal();
  }

  /** Commands and desired configuration across the cluster, on the store's connection (closed by the hub, before this). */
  openControl(parts: { readonly config: HubConfig; readonly planOf: (device: string) => string | undefined; readonly metrics: MetricsRegistry; readonly log: Logger }): Promise<DeviceControl> {
    const prefix = this.#options.prefix;
    return openClusterDeviceControl({
      ...parts, connection: this.#store.connection, node: this.#cluster.node, replicas: this.#cluster.replicas, tuning: this.#options,
      ...(prefix === undefined ? {} : { prefix }),
    });
  }

  /** Stops the quorum watch, the takeover answers and the watches (the devices must be closed first). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#quorumTimer);
    await this.ownership.settled();
    await Promise.all([this.#devices.close(), this.#pki.close()]);
  }

  /** Opens the cluster parts on `store`'s connection. Throws FH_ERR_CONFIG on a bad option, naming it (`clusterHubOptions.quorumCheckMs`). */
  static async open(store: JetStreamStore, cluster: ClusterConfig, hooks: ClusterHubHooks, options: ClusterHubOptions = {}): Promise<ClusterHub> {
    const log = hooks.log ?? SILENT_LOGGER;
    const { quorumCheckMs } = readIntOptions(options, 'clusterHubOptions', { quorumCheckMs: [1, DEFAULT_QUORUM_CHECK_MS] });
    resolveClusterControlOptions(options); // a bad option stops start-up before anything is opened
    const common = { connection: store.connection, node: cluster.node, replicas: cluster.replicas, log, ...(options.prefix === undefined ? {} : { prefix: options.prefix }) };
    const ownership = new ClusterSessionOwnership();
    const devices = await DeviceOwnership.open({
      ...common,
      onTakeover: (takeover) => ownership.takeover(takeover),
      ...(options.takeoverTimeoutMs === undefined ? {} : { takeoverTimeoutMs: options.takeoverTimeoutMs }),
    });
    ownership.attach(devices);
    const pki = await ClusterPki.open(common);
    const records = await ClusterPkiRecords.open({ ...common, ...(options.rateClock === undefined ? {} : { rateClock: options.rateClock }) });
    const leases = await SinkLeases.open({ ...common, ...(options.leaseTtlMs === undefined ? {} : { ttlMs: options.leaseTtlMs }) });
    let up = store.health().ok;
    const timer = setInterval(() => {
      const ok = store.health().ok;
      if (ok === up) return;
      up = ok;
      log.log(ok ? 'info' : 'error', ok ? 'cluster.up' : 'cluster.down', ok ? {} : { effect: '/healthz answers 503; devices are closed with 1013' });
      hooks.onQuorum(ok);
    }, quorumCheckMs);
    timer.unref();
    return new ClusterHub(ownership, devices, pki, leases, timer, { store, cluster, options, records });
  }
}
