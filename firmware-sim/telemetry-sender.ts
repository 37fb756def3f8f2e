/**
 * A simulated device's traffic: readings generated at the configured rate
 * into a bounded outbox, sent as far as the hub's limits (from its hello) and
 * the socket buffer allow, resent after every reconnect until acked; and the
 * misbehaving profiles' traffic (flood, garbage, oversize, retry of refused
 * readings). Knows nothing of how the connection was opened.
 */
import WebSocket from 'ws';
import { FLOOD_BATCH, FLOOD_TICK_MS, OVERSIZE_AFTER_GOOD, garbageFrame, oversizeFrame, type BehaviorProfile } from './behaviors.js';
import type { FleetStats } from './fleet-stats.js';
import type { HelloLimits } from './hub-messages.js';
import { Outbox } from './outbox.js';
import { SEND_SHARE, SendPacer } from './send-pacer.js';
import { SensorModel, buildTelemetryFrame, seededRandom, type Random, type SensorReading } from './sensor-model.js';
import type { SimDeviceOptions } from './sim-device-options.js';

/** Frames written per pump before yielding to the event loop. */
const PUMP_BUDGET = 256;
/** Socket send buffer a device fills before waiting, like a small lwIP window. */
const MAX_BUFFERED_BYTES = 64 * 1024;
/** Readings a device generates per tick at most, whatever the rate (the outbox bounds it anyway). */
const MAX_READINGS_PER_TICK = 1_000;

/** What one device generates and sends, over all its connections. */
export class TelemetrySender {
  readonly #o: SimDeviceOptions;
  readonly #stats: FleetStats;
  readonly #profile: BehaviorProfile;
  readonly #outbox: Outbox<SensorReading>;
  readonly #sensors: SensorModel;
  readonly #random: Random;
  /** The open connection, from its hello until it closes. */
  #socket: WebSocket | null = null;
  #limits: HelloLimits | null = null;
  #pacer: SendPacer | null = null;
  #generating = true;
  #genTimer: NodeJS.Timeout | null = null;
  #genAt = 0;
  #credit = 0;
  #pumpTimer: NodeJS.Timeout | null = null;
  #junkSent = 0;
  #sentThisConnection = 0;
  /** Readings per second: `--rate`, until the hub sets another (`set_interval`, desired `interval_s`). */
  #rate: number;

  constructor(options: SimDeviceOptions) {
    this.#o = options;
    this.#stats = options.stats;
    this.#profile = options.profile;
    this.#outbox = new Outbox<SensorReading>({ capacity: options.outbox });
    this.#sensors = new SensorModel(options.seed);
    this.#random = seededRandom(options.seed ^ 0x5bd1e995);
    this.#rate = options.rate;
  }

  /** Readings per second now. */
  get rate(): number {
    return this.#rate;
  }

  /** A new rate from the hub; the generation ticks follow it at once. */
  setRate(perSec: number): void {
    this.#rate = perSec;
    if (this.#genTimer === null) return;
    clearInterval(this.#genTimer);
    this.#genTimer = null;
    this.startGenerating(performance.now());
  }

  /** Readings not yet acked (sent or not). */
  get pending(): number {
    return this.#outbox.size;
  }

  /** Readings dropped by the full outbox so far. */
  get dropped(): number {
    return this.#outbox.dropped;
  }

  /** What is still in the outbox: `lost` are sent but unacked (or dropped after sending). */
  endState(): { lost: number; unsent: number; dropped: number } {
    const sentUnacked = this.#outbox.sentUnacked;
    return { lost: sentUnacked + this.#outbox.droppedSent, unsent: this.#outbox.size - sentUnacked, dropped: this.#outbox.dropped };
  }

  /** A connection got its hello: send on it, within the limits the hub announced, from after its `lastSeq`. */
  beginConnection(socket: WebSocket, lastSeq: number | null, limits: HelloLimits, now: number): void {
    this.#limits = limits;
    this.#pacer = new SendPacer(limits.msgsPerSec, limits.burst, now);
    if (this.#profile.obeyLimits && this.#profile.junk === 'none' && this.#o.rate > limits.msgsPerSec * SEND_SHARE && !this.#stats.rateAboveLimit) {
      // Readings would pile up in the outbox and be dropped: say so once, not per device.
      this.#stats.rateAboveLimit = true;
      this.#o.logger.log('warn', 'sim.rate_above_limit', { rate: this.#o.rate, msgsPerSec: limits.msgsPerSec, note: 'readings will queue and be dropped' });
    }
    this.#outbox.beginConnection(lastSeq);
    this.#socket = socket;
    this.#junkSent = 0;
    this.#sentThisConnection = 0;
  }

  /** The connection closed: nothing is sent until the next hello. */
  endConnection(): void {
    this.#socket = null;
    this.#clearPump();
  }

  /** Starts the generation ticks (once, at the first hello). */
  startGenerating(now: number): void {
    if (!this.#generating) return;
    const tickMs = this.#profile.obeyLimits ? Math.max(10, Math.min(1000, 1000 / this.#rate)) : FLOOD_TICK_MS;
    this.#genAt = now;
    this.#genTimer = setInterval(() => this.#generate(), tickMs);
  }

  /** No new readings; the outbox still drains. */
  stopSending(): void {
    this.#generating = false;
    if (this.#genTimer !== null) clearInterval(this.#genTimer);
    this.#genTimer = null;
  }

  /** Stops generating and sending; clears every timer. */
  stop(): void {
    this.stopSending();
    this.#clearPump();
  }

  /** One generation tick: readings due by the rate (or a flood batch), or junk frames. */
  #generate(): void {
    const now = performance.now();
    let due: number;
    if (this.#profile.obeyLimits) {
      this.#credit += ((now - this.#genAt) * this.#rate) / 1000;
      due = Math.min(MAX_READINGS_PER_TICK, Math.floor(this.#credit));
      this.#credit -= due;
    } else due = this.#socket !== null ? FLOOD_BATCH : 0; // a flood only makes sense on an open connection
    this.#genAt = now;
    if (this.#profile.junk === 'garbage') {
      for (let i = 0; i < due; i++) this.#sendJunk();
      return;
    }
    const payloadBytes = this.#o.payloadBytes ?? 0;
    for (let i = 0; i < due; i++) {
      const reading = this.#sensors.read();
      const ts = Date.now();
      this.#stats.generated += 1;
      this.#outbox.push(reading, (seq) => buildTelemetryFrame(seq, ts, { ...reading }, payloadBytes));
    }
    if (due > 0) this.pump();
  }

  /** `garbage` and `oversize`: a bad frame, outside the outbox; paced like telemetry so only the badness is tested. */
  #sendJunk(): void {
    const ws = this.#socket;
    if (ws === null || this.#limits === null) return;
    if (this.#profile.obeyLimits && this.#pacer !== null && !this.#pacer.tryTake(performance.now())) return;
    const frame =
      this.#profile.junk === 'oversize' ? oversizeFrame(this.#outbox.nextSeq, this.#limits.maxPayloadBytes) : garbageFrame(this.#junkSent, this.#random);
    this.#junkSent += 1;
    this.#stats.junkSent += 1;
    ws.send(frame);
  }

  /** Sends what the outbox holds, as far as the pacer and the socket buffer allow. */
  pump(): void {
    this.#clearPump();
    const ws = this.#socket;
    if (ws === null || ws.readyState !== WebSocket.OPEN) return;
    const now = performance.now();
    for (let budget = PUMP_BUDGET; budget > 0 && this.#outbox.unsent > 0; budget--) {
      if (ws.bufferedAmount > MAX_BUFFERED_BYTES) return this.#schedulePump(20);
      if (this.#profile.obeyLimits && this.#pacer !== null && !this.#pacer.tryTake(now)) return this.#schedulePump(this.#pacer.waitMs(now));
      const entry = this.#outbox.takeNext(now);
      if (entry === undefined) break;
      this.#stats.countSend(now, entry.sends > 1);
      ws.send(entry.frame);
      // `oversize`: a few good readings on each connection, then the frame over the limit.
      if (this.#profile.junk === 'oversize' && this.#junkSent === 0 && ++this.#sentThisConnection >= OVERSIZE_AFTER_GOOD) {
        this.#sendJunk();
        return;
      }
    }
    if (this.#outbox.unsent > 0) this.#schedulePump(0);
  }

  #schedulePump(delayMs: number): void {
    if (this.#pumpTimer === null) this.#pumpTimer = setTimeout(() => this.pump(), Math.max(0, Math.ceil(delayMs)));
  }

  #clearPump(): void {
    if (this.#pumpTimer !== null) clearTimeout(this.#pumpTimer);
    this.#pumpTimer = null;
  }

  /** The hub acked every reading up to `seq` of this connection. */
  onAck(seq: number): void {
    const now = performance.now();
    this.#outbox.ack(seq, now, (_entry, latencyMs) => this.#stats.countAck(now, latencyMs));
  }

  /** The hub refused `seq` (or, with `seq` null, a frame it could not read). */
  onNack(seq: number | null, error: string, retryAfterMs: number | null): void {
    const now = performance.now();
    this.#stats.countNack(error);
    const refused = error === 'rate_limited' || error === 'quota_exceeded';
    if (seq !== null) {
      const entry = this.#outbox.nack(seq);
      if (entry !== undefined) {
        if (refused && this.#profile.retryRefused) {
          // A new seq: the refused one was never stored, and reusing it would
          // make a later cumulative ack ambiguous (SPEC: ack N covers seq ≤ N
          // of this connection that was not nacked).
          this.#stats.requeued += 1;
          this.#outbox.push(entry.data, (next) => buildTelemetryFrame(next, Date.now(), { ...entry.data }, this.#o.payloadBytes ?? 0));
        } else this.#stats.rejected += 1;
      }
    }
    if (refused && this.#profile.obeyLimits && this.#pacer !== null) {
      // SPEC: honour retryAfterMs; without one, wait one token's time.
      this.#pacer.pause(retryAfterMs ?? 1000 / (this.#limits?.msgsPerSec ?? 1), now);
      this.#schedulePump(this.#pacer.waitMs(now));
    }
  }
}
