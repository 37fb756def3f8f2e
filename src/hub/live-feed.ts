/**
 * What the console (dashboards) sees of the hub: committed readings, presence
 * and rejections as they happen, the current state to start from, and the
 * stored history behind it.
 */
import type { HistoryPage, HistoryQuery, StoredReading } from '../store/types.js';

/** One live event. Readings appear only after the fsync that commits them. */
export type FeedEvent =
  | { readonly type: 'reading'; readonly reading: StoredReading }
  | { readonly type: 'presence'; readonly device: string; readonly online: boolean; readonly at: number }
  | RejectedEvent;

/**
 * Refused device messages, summarised (hub-feed.ts): a device's first
 * refusal goes out at once, later ones as at most one event per
 * `console.rejectedSummaryMs` with their count, so a device that sends
 * garbage as fast as it can costs a dashboard one event a second, not one
 * per message.
 */
export interface RejectedEvent {
  readonly type: 'rejected';
  readonly device: string;
  /** The code refused most often in this summary. */
  readonly code: string;
  /** Refusals summarised here (at least 1). */
  readonly count: number;
  /** The same refusals by nack code. */
  readonly codes: Readonly<Record<string, number>>;
  readonly at: number;
}

/** The hub's live state, as the console reads it. */
export interface LiveFeed {
  /** Ids of the devices connected now. */
  onlineDevices(): Iterable<string>;
  /** Every device known to the store (stored at least one reading). */
  knownDevices(): Iterable<string>;
  /** The newest stored reading of a device. */
  latest(device: string): StoredReading | undefined;
  /** Subscribes to live events; returns the unsubscribe function. */
  subscribe(listener: (event: FeedEvent) => void): () => void;
  /** A page of a device's stored readings by time (SPEC: History; the store's `history`). */
  history(query: HistoryQuery): Promise<HistoryPage>;
}
