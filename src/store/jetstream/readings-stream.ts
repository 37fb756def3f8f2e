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

/** Creates the stream, or updates its limits and replicas when they differ from `spec`. */
export async function ensureReadingsStream(jsm: JetStreamManager, spec: ReadingsStreamSpec): Promise<StreamInfo> {
  const wanted = readingsStreamConfig(spec);
  // Two passes at most: a hub that lost the race to create it updates what the winner made.
  for (let pass = 0; ; pass += 1) {
    let info: StreamInfo;
    try {
      info = await jsm.streams.info(spec.name);
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.code !== STREAM_NOT_FOUND) throw err;
      try {
        return await jsm.streams.add(wanted);
      } catch (addErr) {
        if (pass === 0 && addErr instanceof JetStreamApiError && addErr.code === STREAM_NAME_IN_USE) continue;
        throw addErr;
      }
    }
    const c = info.config;
    if (c.max_age === wanted.max_age && c.max_bytes === wanted.max_bytes && c.duplicate_window === wanted.duplicate_window && c.num_replicas === wanted.num_replicas) {
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
}
