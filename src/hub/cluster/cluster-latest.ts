/**
 * Every device's newest reading in the cluster, as dashboards start from
 * (SPEC: after `subscribed`, the latest reading of each matching device),
 * kept by each hub in memory and bounded.
 *
 * It starts from the readings stream itself: the stream's subjects (one
 * per device, listed page by page from the stream info) name every device
 * that has a reading in it, and each device's last message is its latest
 * reading (a get of the last message by subject). After that, the live
 * feed keeps it current (cluster-feed.ts). A reading replaces a device's
 * latest only when it is newer in the stream (higher position), so the
 * load and the live feed can overlap in any order.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../../log.js';
import { encodeToken, type NatsNames } from '../../store/jetstream/nats-names.js';
import { decodeReading, deviceOfSubject } from '../../store/jetstream/reading-message.js';
import type { StoredReading } from '../../store/types.js';
import { errorText } from './cluster-bucket.js';

/** Newest readings of at most `maxDevices` devices, the least recently updated forgotten first. */
export class LatestReadings {
  readonly #max: number;
  readonly #log: Logger;
  /** Device → its latest reading (null: known, not loaded yet). Insertion order is update order. */
  readonly #latest = new Map<string, StoredReading | null>();
  #warnedFull = false;

  constructor(maxDevices: number, log: Logger) {
    this.#max = maxDevices;
    this.#log = log;
  }

  /** Known devices. */
  devices(): Iterable<string> {
    return this.#latest.keys();
  }

  get size(): number {
    return this.#latest.size;
  }

  latest(device: string): StoredReading | undefined {
    return this.#latest.get(device) ?? undefined;
  }

  /** Records `reading` unless the device's latest is as new; a new device beyond the bound pushes out the least recently updated. */
  note(reading: StoredReading): void {
    const current = this.#latest.get(reading.device);
    if (current !== undefined && current !== null && current.position >= reading.position) return;
    this.#latest.delete(reading.device);
    this.#latest.set(reading.device, reading);
    if (this.#latest.size <= this.#max) return;
    const oldest = this.#latest.keys().next();
    if (!oldest.done) this.#latest.delete(oldest.value);
    this.#full();
  }

  /** Records a device as known (its reading to come); false when the bound is reached. */
  know(device: string): boolean {
    if (this.#latest.has(device)) return true;
    if (this.#latest.size >= this.#max) {
      this.#full();
      return false;
    }
    this.#latest.set(device, null);
    return true;
  }

  /** Devices known with no reading loaded yet. */
  unloaded(): string[] {
    const out: string[] = [];
    for (const [device, reading] of this.#latest) if (reading === null) out.push(device);
    return out;
  }

  clear(): void {
    this.#latest.clear();
  }

  #full(): void {
    if (!this.#warnedFull) this.#log.log('warn', 'cluster.feed_full', { maxDevices: this.#max });
    this.#warnedFull = true;
  }
}

/** How {@link loadLatest} reaches the stream. */
export interface LatestSource {
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly names: NatsNames;
  readonly timeoutMs: number;
  /** Gets of last messages in flight at once. */
  readonly concurrency: number;
  /** Stops the load between two requests (the feed closed). */
  readonly stopped: () => boolean;
  readonly log: Logger;
}

/** What the stream info API answers for one page of subjects (the fields used). */
interface SubjectsPage {
  readonly error?: { readonly description?: string };
  readonly total?: number;
  readonly state?: { readonly subjects?: Readonly<Record<string, number>> };
}

/**
 * Fills `into` with the devices of the readings stream (up to its bound)
 * and then their last readings. Pages through the subjects itself, so a
 * stream of a million devices costs a bounded list, not one answer of
 * everything. A device whose last message cannot be read is left known
 * without a reading (logged).
 */
export async function loadLatest(into: LatestReadings, source: LatestSource): Promise<void> {
  const { nc, names } = source;
  // Bounded: each page adds at least one subject or ends the loop.
  for (let offset = 0; !source.stopped(); ) {
    const reply = await nc.request(`$JS.API.STREAM.INFO.${names.stream}`, JSON.stringify({ subjects_filter: names.readingsFilter, offset }), { timeout: source.timeoutMs });
    const page = JSON.parse(reply.string()) as SubjectsPage;
    if (page.error !== undefined) throw new Error(`stream info: ${page.error.description ?? 'error'}`);
    const subjects = Object.keys(page.state?.subjects ?? {});
    let room = true;
    for (const subject of subjects) {
      let device: string;
      try {
        device = deviceOfSubject(subject, names.readingsPrefix);
      } catch {
        continue;
      }
      if (!(room = into.know(device))) break;
    }
    offset += subjects.length;
    if (!room || subjects.length === 0 || offset >= (page.total ?? 0)) break;
  }
  const queue = into.unloaded();
  const worker = async (): Promise<void> => {
    for (let device = queue.pop(); device !== undefined && !source.stopped(); device = queue.pop()) {
      try {
        const msg = await source.jsm.streams.getMessage(names.stream, { last_by_subj: names.readingsPrefix + encodeToken(device) });
        if (msg !== null) into.note(decodeReading(msg, names.readingsPrefix));
      } catch (err) {
        source.log.log('warn', 'cluster.feed_load_failed', { device, reason: errorText(err) });
      }
    }
  };
  await Promise.all(Array.from({ length: source.concurrency }, worker));
}

