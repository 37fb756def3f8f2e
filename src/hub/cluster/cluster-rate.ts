/**
 * Rate limits that hold for the whole cluster (SPEC: Cluster mode; issue
 * "Device lifecycle": a global renewal rate, a rate per provisioning batch).
 * Each hub keeps its own token bucket in front (a flood is refused without
 * a NATS round trip); what passes it asks the cluster before a certificate
 * is signed, so N hubs behind one load balancer issue at most the
 * configured number a minute between them, not N times it.
 *
 * Windows are calendar minutes (`floor(now / 60 s)`, the same on every hub
 * up to clock skew). Issuance number `n` of limit `key` in window `w` is the
 * message on subject `<prefix>.rates.<key>.<w>.<n>` of the rates stream,
 * which keeps at most one message per subject and refuses a second one
 * (`discard_new_per_subject`): whoever's publish lands first holds slot
 * `n`, the others try `n + 1`, and nobody gets a slot past the limit. Why
 * not a compare-and-set on a KV key: nats-server before 2.9.21 checks a
 * clustered stream's expected last sequence before the Raft proposal only
 * (nats-io/nats-server#4320), so two hubs updating one counter within
 * milliseconds both succeed; a per-subject limit is applied by every
 * replica in the stream's order and holds. Messages expire after
 * {@link RATE_STREAM_MAX_AGE_MS}: a window older than that is never asked.
 *
 * Clock skew between hubs moves a window's edges by that skew: at a minute
 * boundary a hub whose clock is ahead counts in the next window already.
 */
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  DiscardPolicy, JetStreamApiError, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager, type StreamConfig,
} from '@nats-io/jetstream';
import { encodeToken } from '../../store/jetstream/nats-names.js';
import { findOrAddStream } from '../../store/jetstream/readings-stream.js';

/** The length of a window: the limits are "per minute". */
export const RATE_WINDOW_MS = 60_000;

/** Messages of the rates stream are dropped after this: three windows, so the current one and the one before are always whole. */
export const RATE_STREAM_MAX_AGE_MS = 3 * RATE_WINDOW_MS;

/** Slots one take tries past the count it read; each taken one means another hub counted one meanwhile. */
export const MAX_RATE_SLOT_ATTEMPTS = 8;

/** `retryAfterMs` when every slot tried was taken (hubs counting at the same moment): try again shortly. */
export const RATE_CONTENDED_RETRY_MS = 1_000;

/** JetStream's code for a message the store refused: here, a second message on a slot's subject. */
const STREAM_STORE_FAILED = 10077;

const EMPTY = new Uint8Array(0);

/** The limit key of the cluster-wide renewal rate. */
export const RENEWAL_RATE_KEY = 'renewal';

/** The limit key of batch `batch`'s cluster-wide provisioning rate: the name as one subject token (a batch name may hold dots). */
export function batchRateKey(batch: string): string {
  return `batch.${encodeToken(batch)}`;
}

/** Pure: the window of `now` (ms since epoch) and the ms until it ends (at least 1). */
export function rateWindowOf(now: number): { readonly index: number; readonly endsInMs: number } {
  const index = Math.floor(now / RATE_WINDOW_MS);
  return { index, endsInMs: Math.max(1, (index + 1) * RATE_WINDOW_MS - now) };
}

/** The rates stream: one message per subject, a second refused, every message gone after {@link RATE_STREAM_MAX_AGE_MS}. */
export function rateStreamConfig(name: string, subjectPrefix: string, replicas: number): Partial<StreamConfig> & { name: string } {
  return {
    name,
    subjects: [`${subjectPrefix}>`],
    storage: StorageType.File,
    num_replicas: replicas,
    retention: RetentionPolicy.Limits,
    max_msgs_per_subject: 1,
    discard: DiscardPolicy.New,
    discard_new_per_subject: true,
    max_age: nanos(RATE_STREAM_MAX_AGE_MS),
    duplicate_window: nanos(RATE_WINDOW_MS),
  };
}

/** What the counter is opened with. */
export interface ClusterRateCounterOptions {
  readonly connection: NatsConnection;
  /** The rates stream's name and subject prefix (clusterNames). */
  readonly stream: string;
  readonly subjectPrefix: string;
  readonly replicas: number;
  /** How long one JetStream request waits. */
  readonly timeoutMs: number;
  /** ms since epoch: every hub's windows on one time line. @defaultValue Date.now */
  readonly now?: () => number;
}

/** Counts issuances against cluster-wide per-minute limits. */
export class ClusterRateCounter {
  readonly #o: ClusterRateCounterOptions;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;

  private constructor(options: ClusterRateCounterOptions, js: JetStreamClient, jsm: JetStreamManager) {
    this.#o = options;
    this.#js = js;
    this.#jsm = jsm;
  }

  /** Opens the counter, creating the rates stream when it does not exist yet. */
  static async open(options: ClusterRateCounterOptions): Promise<ClusterRateCounter> {
    const jsm = await jetstreamManager(options.connection, { timeout: options.timeoutMs });
    await findOrAddStream(jsm, rateStreamConfig(options.stream, options.subjectPrefix, options.replicas));
    return new ClusterRateCounter(options, jetstream(options.connection, { timeout: options.timeoutMs }), jsm);
  }

  /**
   * Counts one under `limit` per minute for `key` ({@link RENEWAL_RATE_KEY},
   * {@link batchRateKey}): 0 when counted, else the ms to wait (nothing
   * counted). Throws when JetStream does not answer (the caller refuses as
   * for any cluster failure); a publish that timed out may have taken a
   * slot, which only refuses sooner.
   */
  async take(key: string, limit: number): Promise<number> {
    const { index, endsInMs } = rateWindowOf((this.#o.now ?? Date.now)());
    const windowPrefix = `${this.#o.subjectPrefix}${key}.${index}.`;
    const info = await this.#jsm.streams.info(this.#o.stream, { subjects_filter: `${windowPrefix}*` });
    let slot = Object.keys(info.state.subjects ?? {}).length + 1;
    for (let attempt = 1; attempt <= MAX_RATE_SLOT_ATTEMPTS; attempt += 1, slot += 1) {
      if (slot > limit) return endsInMs;
      try {
        await this.#js.publish(`${windowPrefix}${slot}`, EMPTY);
        return 0;
      } catch (err) {
        // Another hub holds this slot: the next one.
        if (!(err instanceof JetStreamApiError) || err.code !== STREAM_STORE_FAILED) throw err;
      }
    }
    return Math.min(RATE_CONTENDED_RETRY_MS, endsInMs);
  }
}
