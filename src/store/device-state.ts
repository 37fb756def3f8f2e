/**
 * What the store remembers about each device, rebuilt from the log at open
 * (or restored from the checkpoint): stored seqs, readings per UTC day, the
 * newest reading. Pure, no I/O.
 */
import { SeqWindow, type SeqWindowJson } from './seq-window.js';
import type { StoredReading, TelemetryData } from './types.js';

const DAY_MS = 86_400_000;

/** The UTC day number of a time in ms since epoch (SPEC: msgsPerDay resets at UTC midnight). */
export function utcDay(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

/**
 * One device's state. The newest reading is kept compact (its numbers, and
 * its data as JSON text, parsed only when asked for): one string per device
 * instead of a reading object and a data object that the garbage collector
 * would move to the old generation at every reading of a busy fleet.
 */
export class DeviceState {
  /** Replaced (not edited) by {@link resetSeq}. */
  window: SeqWindow;
  /** UTC day of {@link dayCount}. */
  day = -1;
  /** Readings stored on {@link day}, by the hub's clock. */
  dayCount = 0;
  #latestPosition = -1;
  #latestSeq = 0;
  #latestTs = 0;
  #latestJson: string | null = null;
  /** The history index's slot for this device in the active segment (history/segment-history.ts: SlotCache); opaque here. */
  historySlot: object | null = null;

  constructor(window = new SeqWindow()) {
    this.window = window;
  }

  /** Applies one committed reading, stored at `hubTime`; `json` is its data's JSON text. */
  apply(reading: StoredReading, hubTime: number, json: string): void {
    this.applySeq(reading.seq, hubTime);
    this.setLatest(reading.position, reading.seq, reading.ts, json);
  }

  /** Records the newest reading (readings arrive in log order: the highest position wins). */
  setLatest(position: number, seq: number, ts: number, json: string): void {
    if (position <= this.#latestPosition) return;
    this.#latestPosition = position;
    this.#latestSeq = seq;
    this.#latestTs = ts;
    this.#latestJson = json;
  }

  /** The newest stored reading of `device` (whose state this is), or undefined before its first. */
  latest(device: string): StoredReading | undefined {
    if (this.#latestJson === null) return undefined;
    const data = JSON.parse(this.#latestJson) as TelemetryData;
    return { device, seq: this.#latestSeq, ts: this.#latestTs, data, position: this.#latestPosition };
  }

  /** Applies a committed reading's seq and day count only (recovery sets {@link latest} once at the end). */
  applySeq(seq: number, hubTime: number): void {
    this.window.add(seq);
    this.applyDay(hubTime);
  }

  /** Applies a committed reading's day count only: one from before a seq reset (see seq-resets.ts). */
  applyDay(hubTime: number): void {
    const day = utcDay(hubTime);
    if (day === this.day) this.dayCount += 1;
    else if (day > this.day) {
      this.day = day;
      this.dayCount = 1;
    }
  }

  /** Forgets the stored seqs (`fleethub device reset-seq`): the device starts again from seq 1. */
  resetSeq(): void {
    this.window = new SeqWindow();
  }

  /** Readings stored on the UTC day of `now`. */
  countOn(now: number): number {
    return utcDay(now) === this.day ? this.dayCount : 0;
  }
}

/** A device's persisted form (one entry of the checkpoint file). */
export interface DeviceStateJson {
  readonly id: string;
  readonly w: SeqWindowJson;
  readonly d: number;
  readonly c: number;
  /** The latest reading: position, seq, ts, data. */
  readonly x: { readonly p: number; readonly s: number; readonly t: number; readonly v: TelemetryData } | null;
}

/** Serialises one device for the checkpoint. */
export function deviceStateToJson(id: string, state: DeviceState): DeviceStateJson {
  const l = state.latest(id);
  return {
    id,
    w: state.window.toJSON(),
    d: state.day,
    c: state.dayCount,
    x: l === undefined ? null : { p: l.position, s: l.seq, t: l.ts, v: l.data },
  };
}

/** Restores one device from the checkpoint; throws on a malformed entry. */
export function deviceStateFromJson(json: DeviceStateJson): [string, DeviceState] {
  if (typeof json.id !== 'string' || typeof json.w !== 'object' || json.w === null) throw new Error('bad device entry');
  if (!Number.isSafeInteger(json.d) || !Number.isSafeInteger(json.c)) throw new Error(`bad day count for ${json.id}`);
  const state = new DeviceState(SeqWindow.fromJSON(json.w));
  state.day = json.d;
  state.dayCount = json.c;
  if (json.x !== null) {
    const { p, s, t, v } = json.x;
    if (!Number.isSafeInteger(p) || !Number.isSafeInteger(s) || typeof t !== 'number' || typeof v !== 'object' || v === null) {
      throw new Error(`bad latest reading for ${json.id}`);
    }
    state.setLatest(p, s, t, JSON.stringify(v));
  }
  return [json.id, state];
}
