/**
 * The hub: the device listener, the store, the live feed, the metrics and
 * the console listener, with one lifecycle (`createHub` → `listen()` →
 * `close()`). `fleethub serve` and the tests create it the same way.
 */
import { SILENT_LOGGER, type Logger } from '../log.js';
import { MetricsRegistry } from '../metrics.js';
import { hubConfigOf, type HubConfig, type HubConfigInput } from './config.js';
import { createConsoleListener, type ConsoleListener } from './console/console-listener.js';
import { DeviceListener } from './device-listener.js';
import { loadDeviceTlsMaterial } from './device-tls.js';
import { DeviceRegistry } from './device-registry.js';
import { HubFeed } from './hub-feed.js';
import { HubMetrics } from './hub-metrics.js';
import type { LiveFeed } from './live-feed.js';
import { openStore } from '../store/log-store.js';
import type { JetStreamStore, JetStreamStoreOptions } from '../store/jetstream-store.js';
import type { ClusterConfig } from '../store/cluster-config.js';
import type { Store } from '../store/types.js';
import { CLOSE } from '../errors.js';
import type { ClusterHub, ClusterHubOptions } from './cluster/cluster-hub.js';
import type { ClusterFeed } from './cluster/cluster-feed.js';
import { openDeviceControl, type DeviceControl } from './commands/device-control.js';
import { openRenewal, type Renewal } from './renewal/open-renewal.js';

/** Options of {@link createHub}. */
export interface HubOptions {
  /** Where events go. @defaultValue {@link SILENT_LOGGER} */
  readonly log?: Logger;
  /** Cluster mode's tuning that is not in the config file (names in NATS, timings); ignored without `cluster`. */
  readonly cluster?: ClusterHubOptions & Omit<JetStreamStoreOptions, 'log' | 'prefix'>;
}

/** What the hub's store is: the embedded log store, or in cluster mode the JetStream store, whose connection the cluster feed shares. */
interface OpenedStore {
  readonly store: Store;
  /** Cluster mode: the same store as its JetStream type, and the `cluster` section; null with the embedded store. */
  readonly cluster: { readonly store: JetStreamStore; readonly config: ClusterConfig } | null;
}

/** Ports the listeners got (useful with port 0). */
export interface HubPorts {
  readonly devicePort: number;
  readonly consolePort: number;
}

/** A running (or ready to run) hub. */
export interface Hub {
  /** Opens the store, starts both listeners; resolves with their ports. */
  listen(): Promise<HubPorts>;
  /**
   * Stops accepting, closes devices with 1001 (after acking what is already
   * durable), closes the console, flushes and closes the store. Idempotent;
   * leaves no timer or socket behind.
   */
  close(): Promise<void>;
  /** The durable store (available after {@link listen} resolved). */
  readonly store: Store;
  /** What dashboards see: presence, latest readings, live events. */
  readonly feed: LiveFeed;
  /** Prometheus metrics (`/metrics` on the console). */
  readonly metrics: MetricsRegistry;
  /** Ids of the devices connected now. */
  onlineDevices(): string[];
  /** Re-reads `crl.pem`, the inventory and `ticket.keys` now instead of at the next poll. */
  checkRevocation(): Promise<void>;
  /** Runs renewal's periodic check now: unused pending certificates revoked, the expiry gauge updated. */
  checkRenewals(): Promise<void>;
  /** Cluster mode's parts (the sink leases among them) after {@link listen}; null on a single hub. */
  readonly cluster: ClusterHub | null;
  /** Commands and desired configuration (available after {@link listen} resolved). */
  readonly control: DeviceControl;
}

class FleethubHub implements Hub {
  readonly metrics = new MetricsRegistry();
  readonly #config: HubConfig;
  readonly #log: Logger;
  readonly #options: HubOptions;
  readonly #registry = new DeviceRegistry();
  #store: Store | null = null;
  #cluster: ClusterHub | null = null;
  #feed: HubFeed | ClusterFeed | null = null;
  #listener: DeviceListener | null = null;
  #console: ConsoleListener | null = null;
  #hubMetrics: HubMetrics | null = null;
  #control: DeviceControl | null = null;
  #renewal: Renewal | null = null;
  #listening: Promise<HubPorts> | null = null;
  #closing: Promise<void> | null = null;

  constructor(config: HubConfig, options: HubOptions) {
    this.#config = config;
    this.#log = options.log ?? SILENT_LOGGER;
    this.#options = options;
  }

  get cluster(): ClusterHub | null {
    return this.#cluster;
  }

  get store(): Store {
    if (this.#store === null) throw new Error('hub.store is available after listen()');
    return this.#store;
  }

  get feed(): LiveFeed {
    if (this.#feed === null) throw new Error('hub.feed is available after listen()');
    return this.#feed;
  }

  get control(): DeviceControl {
    if (this.#control === null) throw new Error('hub.control is available after listen()');
    return this.#control;
  }

  onlineDevices(): string[] {
    return [...this.#registry.devices()];
  }

  async checkRevocation(): Promise<void> {
    await this.#listener?.poll();
  }

  async checkRenewals(): Promise<void> {
    await this.#renewal?.check();
  }

  listen(): Promise<HubPorts> {
    this.#listening ??= this.#listen();
    return this.#listening;
  }

  async #listen(): Promise<HubPorts> {
    const opened = await this.#openStore();
    const { store } = opened;
    this.#store = store;
    try {
      this.#feed = await this.#openFeed(opened);
    } catch (err) {
      await this.#cluster?.close();
      await store.close();
      throw err;
    }
    const feed = this.#feed;
    this.#hubMetrics ??= new HubMetrics(this.metrics, {
      storeStats: () => store.stats(),
      storeUp: () => store.health().ok,
      openSockets: () => this.#listener?.openSockets ?? 0,
      devicesOnline: () => this.#registry.size,
      unreadReplyBytes: () => {
        let bytes = 0;
        for (const session of this.#registry.sessions()) bytes += session.unreadReplyBytes;
        return bytes;
      },
      readsPausedNow: () => {
        let paused = 0;
        for (const session of this.#registry.sessions()) if (session.readPaused) paused += 1;
        return paused;
      },
    });
    let control: DeviceControl;
    try {
      const parts = { config: this.#config, planOf: (id: string) => this.#listener?.planOf(id), metrics: this.metrics, log: this.#log };
      // Cluster mode: commands and desired configuration in JetStream, the same for every hub (cluster-control.ts).
      control = this.#cluster === null ? await openDeviceControl(parts) : await this.#cluster.openControl(parts);
    } catch (err) {
      await feed.close();
      await this.#cluster?.close();
      await store.close();
      throw err;
    }
    try {
      this.#renewal = await openRenewal(this.#config, this.metrics, this.#log, this.#cluster?.renewalParts() ?? null);
    } catch (err) {
      await control.close();
      await feed.close();
      await this.#cluster?.close();
      await store.close();
      throw err;
    }
    this.#control = control;
    this.#listener = new DeviceListener({
      config: this.#config,
      cluster: this.#cluster?.listenerParts() ?? null,
      store,
      registry: this.#registry,
      feed,
      metrics: this.#hubMetrics,
      log: this.#log,
      v2: this.#renewal === null ? control.participants : [...control.participants, this.#renewal.participant],
    });
    try {
      const material = await loadDeviceTlsMaterial(this.#config.pkiDir);
      this.#console = createConsoleListener({
        config: this.#config.console,
        tls: { cert: material.cert, key: material.key },
        pkiDir: this.#config.pkiDir,
        feed,
        metrics: this.metrics,
        health: () => this.#health(),
        log: this.#log,
        control,
      });
      const devicePort = await this.#listener.listen();
      const consolePort = await this.#console.listen();
      this.#log.log('info', 'hub.listening', {
        device: `${this.#config.device.host}:${devicePort}`,
        console: `${this.#config.console.host}:${consolePort}`,
        dataDir: this.#config.dataDir,
        pkiDir: this.#config.pkiDir,
      });
      return { devicePort, consolePort };
    } catch (err) {
      // Undo what this listen() opened; close() stays callable and idempotent.
      await this.#listener.close();
      await this.#cluster?.close();
      await this.#console?.close();
      await feed.close();
      await control.close();
      await this.#renewal?.close();
      await store.close();
      throw err;
    }
  }

  /** The embedded log store, or in cluster mode the JetStream store and the cluster parts on its connection. */
  async #openStore(): Promise<OpenedStore> {
    const cluster = this.#config.cluster;
    if (cluster === null) return { store: await openStore(this.#config.dataDir, this.#config.store, { log: this.#log }), cluster: null };
    const tuning = this.#options.cluster ?? {};
    // Loaded only in cluster mode: the NATS client is a good part of a single hub's start-up otherwise.
    const { openJetStreamStore } = await import('../store/jetstream-store.js');
    const { ClusterHub } = await import('./cluster/cluster-hub.js');
    const store = await openJetStreamStore(cluster, this.#config.store, { ...tuning, log: this.#log });
    try {
      this.#cluster = await ClusterHub.open(store, cluster, {
        log: this.#log,
        // SPEC: a hub without its quorum sends its devices to one that has it (new ones are refused the same way).
        onQuorum: (up) => {
          if (!up) void this.#listener?.closeDevices(CLOSE.TRY_AGAIN_LATER);
        },
      }, tuning);
    } catch (err) {
      await store.close();
      throw err;
    }
    return { store, cluster: { store, config: cluster } };
  }

  /** Single node: the feed of this hub's store and devices. Cluster mode: every hub's (cluster-feed.ts), on the store's connection. */
  async #openFeed(opened: OpenedStore): Promise<HubFeed | ClusterFeed> {
    const rejectedSummaryMs = this.#config.console.rejectedSummaryMs;
    if (opened.cluster === null) return new HubFeed(opened.store, this.#registry, this.#log, { rejectedSummaryMs });
    const { store, config: cluster } = opened.cluster;
    const { prefix, liveBatchMs, liveBatchBytes } = this.#options.cluster ?? {};
    const { ClusterFeed } = await import('./cluster/cluster-feed.js');
    return ClusterFeed.open({
      connection: store.connection, node: cluster.node, replicas: cluster.replicas, store, registry: this.#registry, rejectedSummaryMs, log: this.#log,
      holds: (connId) => this.#cluster?.ownership.holds(connId) ?? true,
      ...(prefix === undefined ? {} : { prefix }),
      ...(liveBatchMs === undefined ? {} : { batchMs: liveBatchMs }),
      ...(liveBatchBytes === undefined ? {} : { batchBytes: liveBatchBytes }),
    });
  }

  /** The body of `/healthz`; `ok: false` (the store cannot write) makes it a 503. */
  #health(): Record<string, unknown> {
    const stats = this.#store?.stats();
    const health = this.#store?.health();
    const ok = health?.ok ?? true;
    const failed = this.#config.cluster === null ? 'store_failed' : 'cluster_unavailable';
    return {
      status: this.#closing !== null ? 'closing' : ok ? 'ok' : failed,
      node: this.#config.cluster?.node,
      ok,
      devicesOnline: this.#registry.size,
      store: stats === undefined ? null : {
        ok, error: health?.error, since: health?.since, bytes: stats.bytes, segments: stats.segments, readings: stats.readings, lastFsyncMs: stats.lastFsyncMs,
      },
    };
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // Let a listen() in progress finish first, so nothing it opens outlives close().
    await this.#listening?.catch(() => undefined);
    await this.#listener?.close();
    await this.#cluster?.close();
    await this.#console?.close();
    await this.#feed?.close();
    await this.#control?.close();
    await this.#renewal?.close();
    await this.#store?.close();
    this.#log.log('info', 'hub.closed');
  }
}

/**
 * Creates a hub from a {@link HubConfig}, or from the config file's object
 * (resolved here as `fleethub serve` would, relative paths from the working
 * directory; throws FH_ERR_CONFIG naming the key). Nothing is opened before
 * {@link Hub.listen}.
 */
export function createHub(input: HubConfig | HubConfigInput, options: HubOptions = {}): Hub {
  return new FleethubHub(hubConfigOf(input), options);
}
