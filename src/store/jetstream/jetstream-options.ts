/**
 * The JetStream store's tuning options: input type, `DEFAULT_*` constants and
 * one resolver; and the NATS client's connection options, built from the
 * config's `cluster` section.
 */
import { readFileSync } from 'node:fs';
import { credsAuthenticator, type NodeConnectionOptions } from '@nats-io/transport-node';
import { ConfigReader, MAX_CONFIG_INTEGER } from '../../config/config-reader.js';
import { FleethubError } from '../../errors.js';
import { SILENT_LOGGER, type Logger } from '../../log.js';
import type { ClusterConfig } from '../cluster-config.js';
import { DEFAULT_NATS_PREFIX } from './nats-names.js';

/**
 * How long one publish waits for JetStream's ack before it is sent again
 * (with the same message id: a timeout does not mean it was not stored).
 * Short enough that a killed stream leader costs seconds, not minutes.
 * @defaultValue 2 s
 */
export const DEFAULT_ACK_TIMEOUT_MS = 2_000;
/**
 * How long a reading is published again before its append fails (the hub
 * then nacks or closes, and the device resends later). Covers a stream
 * leader election with room to spare. @defaultValue 60 s
 */
export const DEFAULT_PUBLISH_RETRY_MS = 60_000;
/**
 * The readings stream's duplicate window: a message id seen within it is
 * acked as a duplicate, not stored. It must cover the publish retry horizon
 * ({@link DEFAULT_PUBLISH_RETRY_MS} plus one ack timeout). @defaultValue 2 min (JetStream's own default)
 */
export const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;
/**
 * How often the stream's first and last positions are fetched (which wakes
 * readers waiting for other hubs' readings) and the hub's heartbeat is
 * written (which tells whether JetStream has a quorum). @defaultValue 1 s
 */
export const DEFAULT_INFO_REFRESH_MS = 1_000;
/** Messages one `read()` fetches at once (one pull of a reader's consumer, or gets by sequence). @defaultValue 256 */
export const DEFAULT_READ_BATCH = 256;
/**
 * Readers kept for sequential reads (stream-readers.ts): each an ephemeral,
 * in-memory, one-replica consumer that goes on where the last read ended,
 * so a batch costs one pull, not one get per reading. One per sink reading
 * at once is enough; past it a read falls back to gets. 0: gets only.
 * @defaultValue 4
 */
export const DEFAULT_READ_CONSUMERS = 4;
/** How long opening the store keeps trying to reach JetStream before it fails. @defaultValue 30 s */
export const DEFAULT_OPEN_TIMEOUT_MS = 30_000;
/**
 * The NATS client's ping interval: a dead server is noticed within about
 * two of these (maxPingOut 2), not the client's default of minutes.
 * @defaultValue 5 s
 */
export const DEFAULT_NATS_PING_INTERVAL_MS = 5_000;
/** Wait between reconnect attempts to one server (the client adds jitter). @defaultValue 500 ms */
export const DEFAULT_NATS_RECONNECT_WAIT_MS = 500;

/**
 * How long without an acked write (a reading or the heartbeat) before the
 * store reports itself unhealthy (SPEC: a hub that cannot reach a JetStream
 * quorum for 5 s answers /healthz with 503). @defaultValue 5 s
 */
export const DEFAULT_QUORUM_LOSS_MS = 5_000;

/** Options of `openJetStreamStore` besides the config. */
export interface JetStreamStoreOptions {
  /** @defaultValue SILENT_LOGGER */
  readonly log?: Logger;
  /** The hub's clock (ms since epoch): day counts. @defaultValue Date.now */
  readonly now?: () => number;
  /** What the stream, its subjects and the cursor bucket are named from (tests give each their own). @defaultValue {@link DEFAULT_NATS_PREFIX} */
  readonly prefix?: string;
  /** @defaultValue {@link DEFAULT_ACK_TIMEOUT_MS} */
  readonly ackTimeoutMs?: number;
  /** @defaultValue {@link DEFAULT_PUBLISH_RETRY_MS} */
  readonly publishRetryMs?: number;
  /** @defaultValue {@link DEFAULT_DUPLICATE_WINDOW_MS} */
  readonly duplicateWindowMs?: number;
  /** @defaultValue {@link DEFAULT_INFO_REFRESH_MS} */
  readonly infoRefreshMs?: number;
  /** @defaultValue {@link DEFAULT_READ_BATCH} */
  readonly readBatch?: number;
  /** @defaultValue {@link DEFAULT_READ_CONSUMERS} */
  readonly readConsumers?: number;
  /** @defaultValue {@link DEFAULT_OPEN_TIMEOUT_MS} */
  readonly openTimeoutMs?: number;
  /** @defaultValue {@link DEFAULT_QUORUM_LOSS_MS} */
  readonly quorumLossMs?: number;
}

/** {@link JetStreamStoreOptions} with every default filled in. */
export type ResolvedJetStreamStoreOptions = Required<JetStreamStoreOptions>;

/**
 * Fills in the defaults and checks the values. Throws FH_ERR_CONFIG naming
 * the option (`jetStreamStoreOptions.ackTimeoutMs`).
 */
export function resolveJetStreamStoreOptions(options: JetStreamStoreOptions): ResolvedJetStreamStoreOptions {
  // Options come from code, not from a file: their keys are the type's (and `connection`), so unread ones are not refused.
  const r = new ConfigReader(options, 'jetStreamStoreOptions');
  const resolved: ResolvedJetStreamStoreOptions = {
    log: options.log ?? SILENT_LOGGER,
    now: options.now ?? Date.now,
    prefix: r.string('prefix', DEFAULT_NATS_PREFIX),
    ackTimeoutMs: r.int('ackTimeoutMs', 100, MAX_CONFIG_INTEGER, DEFAULT_ACK_TIMEOUT_MS),
    publishRetryMs: r.int('publishRetryMs', 0, MAX_CONFIG_INTEGER, DEFAULT_PUBLISH_RETRY_MS),
    duplicateWindowMs: r.int('duplicateWindowMs', 1_000, MAX_CONFIG_INTEGER, DEFAULT_DUPLICATE_WINDOW_MS),
    infoRefreshMs: r.int('infoRefreshMs', 10, MAX_CONFIG_INTEGER, DEFAULT_INFO_REFRESH_MS),
    readBatch: r.int('readBatch', 1, MAX_CONFIG_INTEGER, DEFAULT_READ_BATCH),
    readConsumers: r.int('readConsumers', 0, MAX_CONFIG_INTEGER, DEFAULT_READ_CONSUMERS),
    openTimeoutMs: r.int('openTimeoutMs', 100, MAX_CONFIG_INTEGER, DEFAULT_OPEN_TIMEOUT_MS),
    quorumLossMs: r.int('quorumLossMs', 100, MAX_CONFIG_INTEGER, DEFAULT_QUORUM_LOSS_MS),
  };
  // A retry after the window would store the reading twice (SPEC: never stored twice).
  const horizon = resolved.publishRetryMs + resolved.ackTimeoutMs;
  if (resolved.duplicateWindowMs <= horizon) {
    throw r.fail('duplicateWindowMs', `more than publishRetryMs + ackTimeoutMs (${horizon})`, resolved.duplicateWindowMs);
  }
  return Object.freeze(resolved);
}

/**
 * The NATS client's options for `cluster`: reconnect forever once connected
 * (a hub without NATS reports unhealthy, it does not give up), ping every
 * few seconds. The first connect fails fast; the store's open retries it
 * for `openTimeoutMs` (a hub may start before NATS). Reads the TLS and creds
 * files; throws FH_ERR_CONFIG naming the one it cannot read.
 */
export function natsConnectOptions(cluster: ClusterConfig): NodeConnectionOptions {
  const read = (key: string, path: string): Uint8Array => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new FleethubError('FH_ERR_CONFIG', `config: cluster.${key}: cannot read ${path}`, { cause: err });
    }
  };
  const options: NodeConnectionOptions = {
    servers: [...cluster.nats.servers],
    name: `fleethub ${cluster.node}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: DEFAULT_NATS_RECONNECT_WAIT_MS,
    pingInterval: DEFAULT_NATS_PING_INTERVAL_MS,
    maxPingOut: 2,
    // Without it the client builds an Error (a stack trace) for every request it sends, in case it times out:
    // 3 % of a cluster hub's CPU in a profile at 1,000 readings/s, for traces the hub's log never shows.
    noAsyncTraces: true,
  };
  const tls = cluster.nats.tls;
  if (tls !== null) {
    options.tls = {
      ...(tls.ca === null ? {} : { ca: Buffer.from(read('nats.tls.ca', tls.ca)).toString('utf8') }),
      ...(tls.cert === null ? {} : { cert: Buffer.from(read('nats.tls.cert', tls.cert)).toString('utf8') }),
      ...(tls.key === null ? {} : { key: Buffer.from(read('nats.tls.key', tls.key)).toString('utf8') }),
    };
  }
  const creds = cluster.nats.creds;
  if (creds !== null) {
    const bytes = read('nats.creds', creds);
    options.authenticator = credsAuthenticator(bytes);
  }
  return options;
}
