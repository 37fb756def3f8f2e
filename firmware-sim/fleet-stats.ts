/**
 * What the simulated devices of one run count, in one place: every device
 * writes here, the progress line and the report read it. Fixed memory
 * whatever the run length or fleet size (histograms and a self-coarsening
 * series, counters keyed by a small set of codes).
 */
import { LatencyHistogram, ThroughputSeries } from './latency-histogram.js';

/** Increments `key` in a counter map. */
function bump(map: Map<string, number>, key: string, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

/**
 * Why a connection ended, as the close-by-code table shows it: a WebSocket
 * close code (`"1009"`, `"4029"`), or, when there was no close frame,
 * `"handshake_refused"` (TLS or upgrade refused), `"handshake_timeout"`
 * (the hub dropped an unfinished handshake, as it does to slowloris),
 * `"connect_error"` (TCP refused), `"dropped"` (socket ended without a close
 * frame), `"hello_timeout"` (no hello in time).
 */
export type CloseReason = string;

/** Counters, histograms and series of one run. */
export class FleetStats {
  /** `performance.now()` at the start; series times are relative to it. */
  readonly startedAt: number;
  /** Time from starting a connection to the WebSocket being open (TCP + TLS + upgrade). */
  readonly handshake = new LatencyHistogram();
  /** Time from a message's (last) send to its ack. */
  readonly ackLatency = new LatencyHistogram();
  /** Time from losing a connection to the next hello (backoff included). */
  readonly reconnect = new LatencyHistogram();
  readonly series = new ThroughputSeries();
  readonly nacked = new Map<string, number>();
  readonly closes = new Map<CloseReason, number>();
  /** Certificate renewal (protocol 2): requests sent, certificates received, devices that reconnected with theirs, fall-backs to the old one, refusals by code. */
  readonly renewals = { requested: 0, received: 0, renewed: 0, fellBack: 0, refused: new Map<string, number>() };

  /** Readings the sensor models made. */
  generated = 0;
  /** Distinct messages (seqs) sent at least once. */
  sent = 0;
  /** Frames sent again after a reconnect. */
  resent = 0;
  acked = 0;
  /** Refused messages (rate_limited, quota_exceeded) queued again under a new seq. */
  requeued = 0;
  /** Messages refused for good (invalid_json / invalid_message): not lost, not to be sent again. */
  rejected = 0;
  /** Frames of deliberate misbehaviour (garbage, oversize), outside the outbox accounting. */
  junkSent = 0;
  /** Connection attempts started. */
  connectAttempts = 0;
  /** Connection attempts under way (TCP, TLS or upgrade not finished yet). */
  pendingConnects = 0;
  /** The most connection attempts under way at once. */
  peakPendingConnects = 0;
  /** Devices whose WebSocket is open and hello received. */
  connected = 0;
  /** Devices that got a hello at least once. */
  everConnected = 0;
  /** Hellos after the first, per device. */
  reconnects = 0;
  /** TLS handshakes that resumed an earlier session (`--tls-resume`). */
  resumedHandshakes = 0;
  /** Set once a device found `--rate` above what hello.limits allows (warned about once per run). */
  rateAboveLimit = false;

  constructor(now: number = performance.now()) {
    this.startedAt = now;
  }

  /** Counts one nack by its wire code (SPEC: Device protocol refusals). */
  countNack(code: string): void {
    bump(this.nacked, code);
  }

  /** Counts how one connection ended. */
  countClose(reason: CloseReason): void {
    bump(this.closes, reason);
  }

  /** Records a first send (or a resend) at `now`. */
  countSend(now: number, resend: boolean): void {
    if (resend) this.resent += 1;
    else {
      this.sent += 1;
      this.series.add(now - this.startedAt, 1, 0);
    }
  }

  /** Records one acked message. */
  countAck(now: number, latencyMs: number): void {
    this.acked += 1;
    this.ackLatency.record(latencyMs);
    this.series.add(now - this.startedAt, 0, 1);
  }

  /** Total nacks of every code. */
  get nackedTotal(): number {
    let total = 0;
    for (const n of this.nacked.values()) total += n;
    return total;
  }
}
