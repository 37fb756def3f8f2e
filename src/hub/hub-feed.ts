/**
 * The hub's {@link LiveFeed}: presence from the device registry, latest and
 * known devices from the store, and live events. Readings are published from
 * `store.onCommit`, so a dashboard never sees a reading a crash could take
 * back (ARCHITECTURE: only committed readings are acked, streamed or bridged).
 */
import type { Logger } from '../log.js';
import type { DeviceRegistry } from './device-registry.js';
import type { FeedEvent, LiveFeed } from './live-feed.js';
import type { Store, StoredReading } from '../store/types.js';

/** The live feed over one store and one registry. */
export class HubFeed implements LiveFeed {
  readonly #store: Store;
  readonly #registry: DeviceRegistry;
  readonly #log: Logger;
  readonly #listeners = new Set<(event: FeedEvent) => void>();
  readonly #unsubscribeStore: () => void;

  constructor(store: Store, registry: DeviceRegistry, log: Logger) {
    this.#store = store;
    this.#registry = registry;
    this.#log = log;
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

  subscribe(listener: (event: FeedEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Publishes a device going online or offline. */
  presence(device: string, online: boolean): void {
    if (this.#listeners.size > 0) this.#emit({ type: 'presence', device, online, at: Date.now() });
  }

  /** Publishes a refused message (nack code). */
  rejected(device: string, code: string): void {
    if (this.#listeners.size > 0) this.#emit({ type: 'rejected', device, code, at: Date.now() });
  }

  /** Stops listening to the store and drops every subscriber. */
  close(): void {
    this.#unsubscribeStore();
    this.#listeners.clear();
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
