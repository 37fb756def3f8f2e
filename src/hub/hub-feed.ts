/**
 * The hub's {@link LiveFeed}: presence from the device registry, latest and
 * known devices from the store, and live events. Readings are published from
 * `store.onCommit`, so a dashboard never sees a reading a crash could take
 * back (ARCHITECTURE: only committed readings are acked, streamed or bridged).
 *
 * Refusals are summarised per device (see {@link RejectedEvent}): the first
 * goes out at once and opens a window of `rejectedSummaryMs`; what comes
 * within it goes out as one event with a count when the window ends, which
 * opens the next. A device with nothing refused for a whole window is
 * forgotten, so the map holds only devices refused lately.
 */
import type { Logger } from '../log.js';
import type { DeviceRegistry } from './device-registry.js';
import type { FeedEvent, LiveFeed, RejectedEvent } from './live-feed.js';
import type { HistoryPage, HistoryQuery, Store, StoredReading } from '../store/types.js';

/** Options of {@link HubFeed}. */
export interface HubFeedOptions {
  /** At most one `rejected` event per device per this many ms (`console.rejectedSummaryMs`). */
  readonly rejectedSummaryMs: number;
}

/** One device's refusals in its current summary window. */
interface RejectionWindow {
  /** Date.now() the window opened. */
  since: number;
  count: number;
  readonly codes: Map<string, number>;
}

/** The live feed over one store and one registry. */
export class HubFeed implements LiveFeed {
  readonly #store: Store;
  readonly #registry: DeviceRegistry;
  readonly #log: Logger;
  readonly #summaryMs: number;
  readonly #listeners = new Set<(event: FeedEvent) => void>();
  readonly #unsubscribeStore: () => void;
  readonly #rejections = new Map<string, RejectionWindow>();
  #rejectionSweep: NodeJS.Timeout | null = null;

  constructor(store: Store, registry: DeviceRegistry, log: Logger, options: HubFeedOptions) {
    this.#store = store;
    this.#registry = registry;
    this.#log = log;
    this.#summaryMs = options.rejectedSummaryMs;
    this.#unsubscribeStore = store.onCommit((readings) => {
      if (this.#listeners.size === 0) return;
      for (const reading of readings) this.#emit({ type: 'reading', reading });
    });
  }

  onlineDevices(): Iterable<string> {
    return [...this.#registry.devices()];
  }

  knownDevices(): Iterable<string> {
    return this.#store.devices();
  }

  latest(device: string): StoredReading | undefined {
    return this.#store.latest(device);
  }

  history(query: HistoryQuery): Promise<HistoryPage> {
    return this.#store.history(query);
  }

  subscribe(listener: (event: FeedEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Publishes a device going online or offline. */
  presence(device: string, online: boolean): void {
    if (this.#listeners.size > 0) this.#emit({ type: 'presence', device, online, at: Date.now() });
  }

  /** Publishes a refused message (nack code): at once when it opens a summary window, else counted into the window's summary. */
  rejected(device: string, code: string): void {
    if (this.#listeners.size === 0) return;
    const window = this.#rejections.get(device);
    if (window !== undefined) {
      window.count += 1;
      window.codes.set(code, (window.codes.get(code) ?? 0) + 1);
      return;
    }
    const now = Date.now();
    this.#rejections.set(device, { since: now, count: 0, codes: new Map() });
    this.#emit({ type: 'rejected', device, code, count: 1, codes: { [code]: 1 }, at: now });
    if (this.#rejectionSweep === null) {
      // A quarter of the window: a summary leaves at most a quarter window late, never early.
      this.#rejectionSweep = setInterval(() => this.#sweepRejections(Date.now()), Math.max(1, Math.floor(this.#summaryMs / 4)));
      this.#rejectionSweep.unref();
    }
  }

  /** Stops listening to the store and drops every subscriber. */
  close(): void {
    this.#unsubscribeStore();
    this.#listeners.clear();
    this.#stopSweep();
  }

  /** Sends the summary of every window that has run its time, and forgets devices with nothing to summarise. */
  #sweepRejections(now: number): void {
    for (const [device, window] of this.#rejections) {
      if (now - window.since < this.#summaryMs) continue;
      if (window.count === 0) {
        this.#rejections.delete(device);
        continue;
      }
      const event = summaryOf(device, window, now);
      window.since = now;
      window.count = 0;
      window.codes.clear();
      if (this.#listeners.size > 0) this.#emit(event);
    }
    if (this.#rejections.size === 0) this.#stopSweep();
  }

  #stopSweep(): void {
    if (this.#rejectionSweep !== null) clearInterval(this.#rejectionSweep);
    this.#rejectionSweep = null;
    this.#rejections.clear();
  }

  #emit(event: FeedEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (err) {
        // One faulty subscriber must not stop the others or the store's commit path.
        this.#log.log('error', 'feed.listener_failed', { error: err instanceof Error ? err.message : String(err) });
      }
    }
  }
}

/** The event summarising one window: `code` is the most frequent one. */
function summaryOf(device: string, window: RejectionWindow, now: number): RejectedEvent {
  let code = '';
  let most = 0;
  // Nack codes come from the hub's own fixed list (WIRE_ERROR_CODES); a
  // null-prototype object all the same, like every map the wire sees.
  const codes = Object.create(null) as Record<string, number>;
  for (const [c, n] of window.codes) {
    codes[c] = n;
    if (n > most) {
      most = n;
      code = c;
    }
  }
  return { type: 'rejected', device, code, count: window.count, codes, at: now };
}
