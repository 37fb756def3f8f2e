/**
 * An in-process {@link LiveFeed}: tests put readings, presence and
 * rejections in, and the console listener sees them exactly as it sees the
 * hub's. This is fleethub's own interface, implemented plainly, not a mock of
 * a library.
 */
import type { FeedEvent, LiveFeed } from '../../src/hub/live-feed.js';
import type { HistoryPage, HistoryQuery, StoredReading, TelemetryData } from '../../src/store/types.js';
import { MemoryStoreReader } from './memory-store-reader.js';

/** A LiveFeed driven by the test. */
export class TestFeed implements LiveFeed {
  readonly #online = new Set<string>();
  readonly #latest = new Map<string, StoredReading>();
  readonly #seq = new Map<string, number>();
  readonly #listeners = new Set<(event: FeedEvent) => void>();

  onlineDevices(): Iterable<string> {
    return this.#online;
  }

  knownDevices(): Iterable<string> {
    return this.#latest.keys();
  }

  latest(device: string): StoredReading | undefined {
    return this.#latest.get(device);
  }

  /** Every reading put in, in a reader that answers history queries. */
  readonly stored = new MemoryStoreReader();
  /** History queries asked so far. */
  historyCalls = 0;
  /** While set, history queries wait for it (a slow store). */
  historyHold: Promise<void> | null = null;
  /** While set, history queries fail with it (a store that cannot read). */
  historyError: Error | null = null;

  async history(query: HistoryQuery): Promise<HistoryPage> {
    this.historyCalls += 1;
    await this.historyHold;
    if (this.historyError !== null) throw this.historyError;
    return this.stored.history(query);
  }

  subscribe(listener: (event: FeedEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Listeners subscribed now (the console subscribes on listen, leaves on close). */
  get listenerCount(): number {
    return this.#listeners.size;
  }

  /** A device connects or disconnects. */
  presence(device: string, online: boolean): void {
    if (online) this.#online.add(device);
    else this.#online.delete(device);
    this.#emit({ type: 'presence', device, online, at: Date.now() });
  }

  /** A reading is committed; seq counts up per device unless given. */
  reading(device: string, data: TelemetryData, seq?: number, ts = Date.now()): StoredReading {
    const next = seq ?? (this.#seq.get(device) ?? 0) + 1;
    this.#seq.set(device, next);
    const [reading] = this.stored.append([{ device, seq: next, ts, data }]) as [StoredReading];
    this.#latest.set(device, reading);
    this.#emit({ type: 'reading', reading });
    return reading;
  }

  /** The hub refused `count` device messages (summarised as the hub's feed does). */
  rejected(device: string, code: string, count = 1): void {
    this.#emit({ type: 'rejected', device, code, count, codes: { [code]: count }, at: Date.now() });
  }

  #emit(event: FeedEvent): void {
    for (const listener of this.#listeners) listener(event);
  }
}
