/**
 * Whether this hub can store (SPEC: Cluster mode, a hub that cannot reach a
 * JetStream quorum for 5 s answers /healthz 503 and closes its devices with
 * 1013, so they go to a hub that can).
 *
 * Every `pollMs` the monitor writes this node's key in a small replicated
 * bucket, with `probeTimeoutMs` to get JetStream's ack: an ack means the
 * bucket's stream leader and a quorum of its replicas took a write, which
 * is what storing a reading needs too. The state turns `down` once no probe
 * has succeeded for `graceMs` (a stream leader election, or the hub's own
 * NATS server dying while the client moves to another, takes less), and
 * back `up` at the first probe that succeeds. A reconnect of the NATS
 * client probes at once rather than at the next poll.
 */
import { performance } from 'node:perf_hooks';
import type { KV } from '@nats-io/kv';
import type { NatsConnection, Status } from '@nats-io/transport-node';
import { FleethubError } from '../../errors.js';
import { SILENT_LOGGER, type Logger } from '../../log.js';
import { encodeToken } from '../../store/jetstream/nats-names.js';
import { clusterNames, errorText, openClusterBucket } from './cluster-bucket.js';

/** How often the monitor probes JetStream. @defaultValue 1 s */
export const DEFAULT_HEALTH_POLL_MS = 1_000;
/** How long one probe waits for JetStream's ack. @defaultValue 2 s */
export const DEFAULT_HEALTH_PROBE_TIMEOUT_MS = 2_000;
/** How long without a successful probe before the hub reports `down` (SPEC: 5 s). @defaultValue 5 s */
export const DEFAULT_HEALTH_GRACE_MS = 5_000;

/** `up`: JetStream takes writes; `down`: it has not for `graceMs` (503, devices closed with 1013). */
export type ClusterHealthState = 'up' | 'down';

/** Options of {@link ClusterHealth.start}. */
export interface ClusterHealthOptions {
  /** The hub's NATS connection (left open by {@link ClusterHealth.close}). */
  readonly connection: NatsConnection;
  /** This hub's node name (`cluster.node`): its key in the health bucket. */
  readonly node: string;
  /** The bucket's copies (`cluster.replicas`): the same quorum the readings need. */
  readonly replicas: number;
  /** Called on each change of state after start (start's own result is {@link ClusterHealth.state}). */
  readonly onChange?: (state: ClusterHealthState) => void;
  /** @defaultValue DEFAULT_NATS_PREFIX */
  readonly prefix?: string;
  /** @defaultValue {@link DEFAULT_HEALTH_POLL_MS} */
  readonly pollMs?: number;
  /** @defaultValue {@link DEFAULT_HEALTH_PROBE_TIMEOUT_MS} */
  readonly probeTimeoutMs?: number;
  /** @defaultValue {@link DEFAULT_HEALTH_GRACE_MS} */
  readonly graceMs?: number;
  /** @defaultValue SILENT_LOGGER */
  readonly log?: Logger;
}

function positiveInteger(key: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new FleethubError('FH_ERR_CONFIG', `config: cluster health ${key} must be a positive integer, got ${value}`);
  return value;
}

/** The JetStream health of one hub. Obtain with {@link ClusterHealth.start}; {@link close} at the end. */
export class ClusterHealth {
  readonly #nc: NatsConnection;
  readonly #node: string;
  readonly #replicas: number;
  readonly #bucket: string;
  readonly #onChange: (state: ClusterHealthState) => void;
  readonly #pollMs: number;
  readonly #probeTimeoutMs: number;
  readonly #graceMs: number;
  readonly #log: Logger;
  /** Opened by the first probe that reaches JetStream. */
  #kv: KV | null = null;
  #state: ClusterHealthState = 'down';
  #since = Date.now();
  /** performance.now() of the last successful probe (null: none yet). */
  #lastOk: number | null = null;
  #lastError: string | null = null;
  #probing: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #status: (AsyncIterable<Status> & { stop?: () => void }) | null = null;
  #closed = false;
  /** No onChange for the first probe's result. */
  #started = false;

  private constructor(options: ClusterHealthOptions) {
    this.#nc = options.connection;
    this.#node = options.node;
    this.#replicas = options.replicas;
    this.#bucket = clusterNames(options.prefix).healthBucket;
    this.#onChange = options.onChange ?? (() => {});
    this.#pollMs = positiveInteger('pollMs', options.pollMs ?? DEFAULT_HEALTH_POLL_MS);
    this.#probeTimeoutMs = positiveInteger('probeTimeoutMs', options.probeTimeoutMs ?? DEFAULT_HEALTH_PROBE_TIMEOUT_MS);
    this.#graceMs = positiveInteger('graceMs', options.graceMs ?? DEFAULT_HEALTH_GRACE_MS);
    this.#log = options.log ?? SILENT_LOGGER;
  }

  /**
   * Probes once and starts polling. Resolves `up` after a successful first
   * probe, `down` otherwise (there is nothing to be patient about before
   * the first success). Never throws on NATS; FH_ERR_CONFIG on a bad option.
   */
  static async start(options: ClusterHealthOptions): Promise<ClusterHealth> {
    const health = new ClusterHealth(options);
    await health.#probe();
    health.#started = true;
    health.#schedule();
    void health.#followStatus();
    return health;
  }

  /** The state now. */
  get state(): ClusterHealthState {
    return this.#state;
  }

  /** When the state last changed (ms since epoch). */
  get since(): number {
    return this.#since;
  }

  /** Why the last probe failed (null after a success), for /healthz and logs. */
  get lastError(): string | null {
    return this.#lastError;
  }

  /** Stops polling; waits for a probe in progress. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#status?.stop?.();
    await this.#probing;
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      // A probe that hangs past its timeout does not stop the clock: down is judged on the last success.
      if (this.#probing === null) void this.#probe();
      this.#judge();
      this.#schedule();
    }, this.#pollMs);
  }

  #probe(): Promise<void> {
    const run = async (): Promise<void> => {
      try {
        this.#kv ??= await openClusterBucket(this.#nc, this.#bucket, this.#replicas, this.#probeTimeoutMs);
        await this.#kv.put(encodeToken(this.#node), JSON.stringify({ node: this.#node, at: Date.now() }), { timeout: this.#probeTimeoutMs });
        this.#lastOk = performance.now();
        this.#lastError = null;
        this.#set('up');
      } catch (err) {
        if (this.#lastError === null) this.#log.log('warn', 'cluster.probe_failed', { reason: errorText(err) });
        this.#lastError = errorText(err);
        this.#judge();
      }
    };
    this.#probing = run().finally(() => (this.#probing = null));
    return this.#probing;
  }

  #judge(): void {
    if (this.#state === 'up' && (this.#lastOk === null || performance.now() - this.#lastOk >= this.#graceMs)) this.#set('down');
  }

  #set(state: ClusterHealthState): void {
    if (this.#closed || state === this.#state) return;
    this.#state = state;
    this.#since = Date.now();
    this.#log.log(state === 'up' ? 'info' : 'error', state === 'up' ? 'cluster.up' : 'cluster.down', { node: this.#node, reason: this.#lastError ?? undefined });
    if (this.#started) this.#onChange(state);
  }

  /** A reconnect probes at once: a hub back on NATS is healthy again without waiting for the next poll. */
  async #followStatus(): Promise<void> {
    // QueuedIterator underneath: stop() ends the loop on close.
    this.#status = this.#nc.status() as AsyncIterable<Status> & { stop?: () => void };
    for await (const status of this.#status) {
      if (this.#closed) return;
      if (status.type === 'disconnect') this.#log.log('warn', 'cluster.nats_disconnected', { node: this.#node });
      if (status.type === 'reconnect' && this.#probing === null) void this.#probe();
    }
  }
}
