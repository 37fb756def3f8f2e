/**
 * Writing readings to the stream, one lane per device.
 *
 * A device's readings are published one after another, each expecting the
 * device's previous message to be the last on its subject; lanes of
 * different devices run side by side, so many publishes are in flight at
 * once. One at a time per device keeps readings in order per device even
 * when a publish is resent, and makes the device's last message carry its
 * whole state (reading-message.ts). A lane whose state is stale (another
 * hub wrote the device) is refused by JetStream and reads it again.
 */
import { performance } from 'node:perf_hooks';
import type { JetStreamManager } from '@nats-io/jetstream';
import { FleethubError } from '../../errors.js';
import { DeviceState } from '../device-state.js';
import type { AppendOutcome, Reading, StoredReading } from '../types.js';
import { encodeToken, type NatsNames } from './nats-names.js';
import { publishUntilAcked, requestUntilAnswered, type Publish, type PublishLimits } from './publish-retry.js';
import { PublishWindow } from './publish-window.js';
import { decodeDeviceState, readingHeaders, readingMsgId, stateAfter } from './reading-message.js';
import type { SeqResetBucket } from './seq-reset-bucket.js';

/** Conflicts (another writer of the same device) one reading rides out before its append fails. */
const MAX_CONFLICTS = 5;

/** One device as this hub sees it: its state, and the queue its readings are published in. */
interface Lane {
  /** Null: read it from the device's last message before the next use. */
  state: DeviceState | null;
  /** Stream sequence of the device's last message (0: none). */
  lastSubjectSeq: number;
  /** Opens not yet released (sessions of the device on this hub). */
  opens: number;
  /** Read the state again before the next publish: every session released it, so another hub may own the device now. */
  reload: boolean;
  /** The last queued step; the next one starts after it. */
  tail: Promise<unknown>;
  /** Readings queued so far. */
  tickets: number;
  /** Readings queued up to this ticket fail without publishing: one before them failed, and order per device comes first. */
  failedThrough: number;
}

/** Counters for the store's stats. */
export interface LaneStats {
  acks: number;
  ackSeconds: number;
  lastAckMs: number;
  appended: number;
  duplicates: number;
  staleDuplicates: number;
  conflicts: number;
}

/** What the lanes need from the store. */
export interface LanesInit {
  /** Sends one reading's message and resolves with its ack (ack-inbox.ts). */
  readonly publish: Publish;
  readonly jsm: JetStreamManager;
  readonly names: NatsNames;
  readonly limits: PublishLimits;
  readonly resets: SeqResetBucket;
  /** `store.commitIntervalMs`: publishes leave at most this often (publish-window.ts). */
  readonly commitIntervalMs: number;
  /** Called with each reading JetStream acked. */
  readonly committed: (reading: StoredReading) => void;
}

/** Every device's lane. */
export class DeviceLanes {
  readonly #init: LanesInit;
  readonly #lanes = new Map<string, Lane>();
  readonly #window: PublishWindow;
  #inflight = 0;
  #idleWaiters: (() => void)[] = [];
  readonly stats: LaneStats = { acks: 0, ackSeconds: 0, lastAckMs: 0, appended: 0, duplicates: 0, staleDuplicates: 0, conflicts: 0 };

  constructor(init: LanesInit) {
    this.#init = init;
    this.#window = new PublishWindow(init.commitIntervalMs);
  }

  /** Departures of the publish window (the group commits) since open. */
  get publishBatches(): number {
    return this.#window.departures;
  }

  /** The device's state as last read or written by this hub, or undefined. */
  state(device: string): DeviceState | undefined {
    return this.#lanes.get(device)?.state ?? undefined;
  }

  /** Devices with a stored reading that this hub knows of. */
  *devices(): Iterable<string> {
    for (const [device, lane] of this.#lanes) if (lane.state?.window.lastSeq != null) yield device;
  }

  /** How many devices {@link devices} yields. */
  deviceCount(): number {
    let count = 0;
    for (const lane of this.#lanes.values()) if (lane.state?.window.lastSeq != null) count += 1;
    return count;
  }

  /** Reads the device's state from its last message, after its readings queued so far. Counts the open. */
  open(device: string): Promise<void> {
    const lane = this.#lane(device);
    lane.opens += 1;
    return this.#queue(lane, async () => {
      await this.#load(lane, device);
    });
  }

  /**
   * One session of the device ended. Once every open is released the state
   * is read again before the next publish (it stays readable meanwhile): a
   * device that reconnects elsewhere is written by another hub.
   */
  release(device: string): void {
    const lane = this.#lanes.get(device);
    if (lane === undefined || lane.opens === 0) return;
    lane.opens -= 1;
    if (lane.opens === 0) lane.reload = true;
  }

  /**
   * Forgets the device's seqs, after its readings queued so far: records the
   * stream sequence of its last message in the reset bucket, then drops the
   * seq window of this hub's copy (day count and latest stay).
   */
  resetSeq(device: string): Promise<void> {
    const lane = this.#lane(device);
    return this.#queue(lane, async () => {
      const state = await this.#load(lane, device);
      await requestUntilAnswered(() => this.#init.resets.set(device, lane.lastSubjectSeq), this.#init.limits, `the seq reset of ${device}`);
      state.resetSeq();
    });
  }

  /** Runs `step` after everything queued on the lane so far; a failed step does not stop the next. */
  #queue(lane: Lane, step: () => Promise<void>): Promise<void> {
    const run = lane.tail.then(step);
    lane.tail = run.catch(() => {});
    return run;
  }

  /** Queues one reading (its data as JSON text) on its device's lane; resolves once acked, or as a duplicate. */
  append(reading: Reading, json: string, hubTime: number): Promise<AppendOutcome> {
    const lane = this.#lane(reading.device);
    lane.tickets += 1;
    const ticket = lane.tickets;
    this.#inflight += 1;
    const step = lane.tail.then(() => this.#storeOne(lane, reading, json, hubTime, ticket));
    lane.tail = step.catch(() => {});
    return step.finally(() => {
      this.#inflight -= 1;
      if (this.#inflight === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
    });
  }

  /** Resolves once no reading is queued or in flight. */
  idle(): Promise<void> {
    if (this.#inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #lane(device: string): Lane {
    let lane = this.#lanes.get(device);
    if (lane === undefined) {
      lane = { state: null, lastSubjectSeq: 0, opens: 0, reload: false, tail: Promise.resolve(), tickets: 0, failedThrough: 0 };
      this.#lanes.set(device, lane);
    }
    return lane;
  }

  async #storeOne(lane: Lane, reading: Reading, json: string, hubTime: number, ticket: number): Promise<AppendOutcome> {
    const { device, seq, ts, data } = reading;
    if (ticket <= lane.failedThrough) {
      throw new FleethubError('FH_ERR_STORE_IO', `store: not publishing ${device} seq ${seq}: an earlier reading of the device was not stored`);
    }
    const { publish, names, limits } = this.#init;
    try {
      for (let conflicts = 0; conflicts < MAX_CONFLICTS; conflicts += 1) {
        const state = lane.state !== null && !lane.reload ? lane.state : await this.#load(lane, device);
        const status = state.window.check(seq);
        if (status === 'stale') {
          // Below the dedupe window: a new reading cannot be told from a late repeat, so it is neither stored nor acked.
          this.stats.staleDuplicates += 1;
          return 'stale';
        }
        if (status !== 'new') {
          // SPEC: a repeat is acked again, not stored twice.
          this.stats.duplicates += 1;
          return 'duplicate';
        }
        // With the other lanes' readings of this turn: one write to NATS, one batch for its servers.
        await this.#window.next();
        const started = performance.now();
        const result = await publishUntilAcked(publish, {
          subject: names.readingsPrefix + encodeToken(device),
          payload: json,
          msgID: readingMsgId(device, seq),
          headers: readingHeaders(seq, ts, stateAfter(state, seq, hubTime), lane.lastSubjectSeq),
        }, limits);
        if (result.kind === 'conflict') {
          // Another hub wrote this device since this hub read its state: read it again and decide anew.
          this.stats.conflicts += 1;
          lane.state = null;
          continue;
        }
        const { ack, resent } = result;
        if (ack.duplicate && !resent) {
          // Stored before, by a publish that this hub gave up on or by another hub: the stream knows better.
          lane.state = null;
          this.stats.duplicates += 1;
          return 'duplicate';
        }
        // Stored: by this publish, or by an earlier attempt of it whose ack was lost (then JetStream says duplicate).
        const ms = performance.now() - started;
        this.stats.acks += 1;
        this.stats.ackSeconds += ms / 1000;
        this.stats.lastAckMs = ms;
        this.stats.appended += 1;
        const stored: StoredReading = { device, seq, ts, data, dataJson: json, position: ack.seq - 1 };
        state.apply(stored, hubTime, json);
        lane.lastSubjectSeq = ack.seq;
        if (ack.duplicate) lane.state = null; // re-read once: the copy JetStream kept is the authority
        this.#init.committed(stored);
        return 'stored';
      }
      throw new FleethubError('FH_ERR_STORE_IO', `store: ${device} kept changing under this hub (is another hub writing it?)`);
    } catch (err) {
      lane.failedThrough = lane.tickets;
      lane.state = null;
      throw err;
    }
  }

  /** Reads the device's state from its last message, less the seqs a reset at or after that message forgot. */
  async #load(lane: Lane, device: string): Promise<DeviceState> {
    const { jsm, names, limits, resets } = this.#init;
    const subject = names.readingsPrefix + encodeToken(device);
    const [msg, resetMark] = await Promise.all([
      requestUntilAnswered(() => jsm.streams.getMessage(names.stream, { last_by_subj: subject }), limits, `the last reading of ${device}`),
      requestUntilAnswered(() => resets.get(device), limits, `the seq reset of ${device}`),
    ]);
    let state: DeviceState;
    try {
      state = msg === null ? new DeviceState() : decodeDeviceState(msg);
    } catch (err) {
      throw new FleethubError('FH_ERR_STORE_IO', `store: the last reading of ${device} cannot be read`, { cause: err });
    }
    if (resetMark !== null && resetMark >= (msg?.seq ?? 0)) state.resetSeq();
    lane.state = state;
    lane.reload = false;
    lane.lastSubjectSeq = msg?.seq ?? 0;
    return state;
  }
}
