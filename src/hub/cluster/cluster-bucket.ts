/**
 * What the hub's cluster coordination shares: the names of its KV buckets
 * and subjects, opening a bucket, and telling a lost compare-and-set from
 * other failures.
 *
 * Every bucket keeps one value per key (`history` 1) with `replicas`
 * copies, and is read from its stream leader (`allow_direct` off): a hub
 * deciding who owns a device or holds a lease must see the last write, not
 * a replica's older copy.
 */
import { Kvm, type KV, type KvWatchEntry, type KvWatchOptions } from '@nats-io/kv';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { NatsConnection, QueuedIterator } from '@nats-io/transport-node';
import type { Logger } from '../../log.js';
import { DEFAULT_NATS_PREFIX, encodeToken, natsNames } from '../../store/jetstream/nats-names.js';

/**
 * How long one KV operation (a get, a compare-and-set, opening a bucket)
 * waits for JetStream before it fails. @defaultValue 2 s
 */
export const DEFAULT_CLUSTER_KV_TIMEOUT_MS = 2_000;

/** The buckets and subjects of one fleethub cluster, named from its prefix. */
export interface ClusterNames {
  /** Device ownership: a key per device. */
  readonly ownerBucket: string;
  /** Sink leases: a key per sink. */
  readonly leaseBucket: string;
  /** The CRL and the inventory, as the CLI publishes them. */
  readonly pkiBucket: string;
  /** Desired configuration: `d.<device>` the document, `a.<device>` the device's last configAck. */
  readonly configBucket: string;
  /** Commands waiting for their device or running on its hub: `<device>.<id>`. */
  readonly commandBucket: string;
  /** Renewal and provisioning records: `d.<device>` renewals, `q.<device>` the index of pending certificates, `p.<device>` provisionings, `n.<batch>` an open batch's count, `x.<i|r>.<serial>` revocations made in the cluster. */
  readonly renewalBucket: string;
  /** The stream of cluster-wide rate windows (cluster-rate.ts), and its subjects' prefix (`<prefix>.rates.`). */
  readonly rateStream: string;
  readonly rateSubjectPrefix: string;
  /** The subject hub `node` answers takeover requests on. */
  takeoverSubject(node: string): string;
}

/** The names under `prefix` (the store's prefix: one cluster, one prefix); throws on a prefix NATS cannot carry. */
export function clusterNames(prefix: string = DEFAULT_NATS_PREFIX): ClusterNames {
  natsNames(prefix); // validates the prefix
  return Object.freeze({
    ownerBucket: `${prefix}-owners`,
    leaseBucket: `${prefix}-sink-leases`,
    pkiBucket: `${prefix}-pki`,
    configBucket: `${prefix}-device-config`,
    commandBucket: `${prefix}-commands`,
    renewalBucket: `${prefix}-renewals`,
    rateStream: `${prefix}-rates`,
    rateSubjectPrefix: `${prefix}.rates.`,
    takeoverSubject: (node: string) => `${prefix}.node.${encodeToken(node)}.takeover`,
  });
}

/** Opens the bucket `name`, creating it with `replicas` copies when it does not exist yet. */
export function openClusterBucket(nc: NatsConnection, name: string, replicas: number, timeoutMs: number): Promise<KV> {
  return new Kvm(nc).create(name, { replicas, history: 1, allow_direct: false, timeout: timeoutMs });
}

/** True when `err` is JetStream refusing a compare-and-set: the key is not at the revision given (someone else wrote it). */
export function isCasConflict(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** An error's message, for a log line. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A watch kept open by {@link keepWatching}. */
export interface KeptWatch {
  /** Ends the watch (and a wait before reopening it); resolves once it stopped. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Watches `kv` with `options`, calling `onEntry` for each entry, and opens
 * the watch again `retryMs` after it ends (logged as `name`) on an error (its consumer lived on
 * a server that went away) until {@link KeptWatch.stop}. Resolves once the
 * first watch is open; throws when it cannot be.
 */
export async function keepWatching(
  kv: KV,
  options: KvWatchOptions,
  onEntry: (entry: KvWatchEntry) => void,
  retry: { readonly name: string; readonly retryMs: number; readonly log: Logger },
): Promise<KeptWatch> {
  const { name, retryMs, log } = retry;
  let stopped = false;
  let current: QueuedIterator<KvWatchEntry> | null = await kv.watch(options);
  let wake: (() => void) | null = null;
  const loop = (async () => {
    while (!stopped) {
      if (current !== null) {
        try {
          for await (const entry of current) onEntry(entry);
        } catch (err) {
          log.log('warn', 'cluster.watch_ended', { watch: name, reason: errorText(err) });
        }
        current = null;
      }
      if (stopped) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, retryMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (stopped) return;
      current = await kv.watch(options).catch((err: unknown) => {
        log.log('warn', 'cluster.watch_ended', { watch: name, reason: errorText(err) });
        return null;
      });
      if (stopped) current?.stop();
    }
  })();
  return {
    async stop() {
      stopped = true;
      current?.stop();
      (wake as (() => void) | null)?.();
      await loop;
    },
  };
}
