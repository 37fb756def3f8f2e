/**
 * The readings stream: created on first use, its limits brought in line
 * with the config on every open (retention by age and size is the stream's
 * own `max_age` and `max_bytes`; JetStream deletes the oldest readings).
 */
import { nanos } from '@nats-io/transport-node';
import {
  DiscardPolicy, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig, type StreamInfo,
} from '@nats-io/jetstream';
import type { StoreConfig } from '../store-config.js';

/** JetStream's code for a stream that does not exist. */
const STREAM_NOT_FOUND = 10059;
/** JetStream's code for "stream name already in use": another hub created it first. */
const STREAM_NAME_IN_USE = 10058;

/** What the readings stream is made of. */
export interface ReadingsStreamSpec {
  readonly name: string;
  readonly subject: string;
  readonly replicas: number;
  readonly duplicateWindowMs: number;
  readonly store: StoreConfig;
}

/** The stream config for `spec`: file storage, `replicas` copies, limits retention, oldest dropped first. */
export function readingsStreamConfig(spec: ReadingsStreamSpec): Partial<StreamConfig> & { name: string } {
  return {
    name: spec.name,
    subjects: [spec.subject],
    storage: StorageType.File,
    num_replicas: spec.replicas,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    // 0 in the store config means no bound; JetStream says that with 0 for age and -1 for bytes.
    max_age: spec.store.retentionHours === 0 ? 0 : nanos(spec.store.retentionHours * 3_600_000),
    max_bytes: spec.store.retentionBytes === 0 ? -1 : spec.store.retentionBytes,
    duplicate_window: nanos(spec.duplicateWindowMs),
  };
}

/**
 * The stream `wanted.name` as it is, or created from `wanted` when it does not
 * exist (`created` true). Two passes at most: a hub that lost the race to
 * create it gets what the winner made.
 */
export async function findOrAddStream(
  jsm: JetStreamManager, wanted: Partial<StreamConfig> & { name: string },
): Promise<{ readonly info: StreamInfo; readonly created: boolean }> {
  for (let pass = 0; ; pass += 1) {
    try {
      return { info: await jsm.streams.info(wanted.name), created: false };
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.code !== STREAM_NOT_FOUND) throw err;
    }
    try {
      return { info: await jsm.streams.add(wanted), created: true };
    } catch (err) {
      if (pass === 0 && err instanceof JetStreamApiError && err.code === STREAM_NAME_IN_USE) continue;
      throw err;
    }
  }
}

/** Creates the stream, or updates its limits and replicas when they differ from `spec`. */
export async function ensureReadingsStream(jsm: JetStreamManager, spec: ReadingsStreamSpec): Promise<StreamInfo> {
  const wanted = readingsStreamConfig(spec);
  const { info, created } = await findOrAddStream(jsm, wanted);
  const c = info.config;
  if (created || (c.max_age === wanted.max_age && c.max_bytes === wanted.max_bytes && c.duplicate_window === wanted.duplicate_window && c.num_replicas === wanted.num_replicas)) {
    return info;
  }
  return jsm.streams.update(spec.name, {
    ...c,
    max_age: wanted.max_age,
    max_bytes: wanted.max_bytes,
    duplicate_window: wanted.duplicate_window,
    num_replicas: wanted.num_replicas,
  });
}
