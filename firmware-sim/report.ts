/**
 * The simulator's final report (SPEC: Simulator): devices connected,
 * handshake time p50/p99, messages sent, acked, nacked by code, lost, ack
 * latency p50/p99/max, throughput, closes by code. Built from
 * {@link FleetStats} plus the outboxes' state at the end; rendered as a
 * text table here (JSON is the object itself; HTML in report-html.ts). Pure.
 */
import type { FleetStats } from './fleet-stats.js';
import type { HistogramBucket, LatencySummary, ThroughputPoint } from './latency-histogram.js';

/** The outboxes' state when the run ended, summed over the fleet. */
export interface FleetEndState {
  /** Messages sent at least once and never acked (still in an outbox after the drain, or dropped by a full one). */
  readonly lost: number;
  /** Readings never sent (still queued at the end): not lost in transit, but a failed `normal` run all the same (SPEC). */
  readonly unsent: number;
  /** Readings dropped by a full outbox (sent or not). */
  readonly dropped: number;
  /** Devices with an open connection when the run ended. */
  readonly connectedAtEnd: number;
  /** Rates over the sending phase (the whole fleet up), per second. */
  readonly sending: { readonly ackedPerSec: number; readonly sentPerSec: number };
}

/** What the run was asked to do. */
export interface ReportRunInfo {
  readonly behavior: string;
  readonly url: string;
  readonly devices: number;
  readonly ratePerDevice: number;
  readonly payloadBytes: number;
  readonly tls: string;
  /** Wall time of the run in ms: coming up, sending and drain (closing the connections afterwards not included). */
  readonly elapsedMs: number;
  /** Of which: the staggered start until every device had its first hello (or the connect timeout). */
  readonly startupMs: number;
  /** Of which: the sending phase, `--duration` with the whole fleet up. */
  readonly sendingMs: number;
  /** ISO time the run started. */
  readonly startedAt: string;
}

/** The JSON report written by `--report FILE`. */
export interface SimReport {
  readonly run: ReportRunInfo;
  readonly devices: {
    readonly total: number;
    /** Devices that received a hello at least once. */
    readonly connected: number;
    readonly neverConnected: number;
    readonly connectedAtEnd: number;
    readonly connectAttempts: number;
    readonly reconnects: number;
    /** TLS handshakes that resumed a session (`--tls-resume`). */
    readonly resumedHandshakes: number;
    /** The most connection attempts under way at once (bounded by `--max-pending` during the start). */
    readonly peakPendingConnects: number;
  };
  readonly handshakeMs: LatencySummary;
  readonly reconnectMs: LatencySummary;
  readonly messages: {
    readonly generated: number;
    /** Distinct messages sent at least once. */
    readonly sent: number;
    readonly resent: number;
    readonly acked: number;
    /** Nacks received, by wire error code (a refused message may be nacked, then sent again). */
    readonly nacked: Readonly<Record<string, number>>;
    /** Refused messages queued again under a new seq (each counted in `sent` once per seq). */
    readonly requeued: number;
    /** Messages refused for good (invalid_json, invalid_message; any refusal in `flood`). */
    readonly rejected: number;
    /** Sent but never acked after the drain: the figure that must be 0. */
    readonly lost: number;
    readonly unsent: number;
    readonly dropped: number;
    /** Deliberately bad frames (garbage, oversize), not part of the figures above. */
    readonly junk: number;
  };
  readonly ackLatencyMs: LatencySummary;
  readonly throughput: {
    /** Acked messages per second during the sending phase. */
    readonly ackedPerSec: number;
    /** Messages sent per second during the sending phase. */
    readonly sentPerSec: number;
    /** Acked messages per second over the whole run (coming up and drain included). */
    readonly overallAckedPerSec: number;
  };
  readonly closes: Readonly<Record<string, number>>;
  /** Certificate renewal (protocol 2): requests, certificates received, devices now on their new certificate, fall-backs, refusals by code. */
  readonly renewals: {
    readonly requested: number;
    readonly received: number;
    readonly renewed: number;
    readonly fellBack: number;
    readonly refused: Readonly<Record<string, number>>;
  };
  readonly charts: {
    readonly ackLatency: readonly HistogramBucket[];
    readonly handshake: readonly HistogramBucket[];
    readonly throughput: readonly ThroughputPoint[];
  };
}

function sortedRecord(map: ReadonlyMap<string, number>): Record<string, number> {
  return Object.fromEntries([...map.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

function perSec(count: number, ms: number): number {
  return ms <= 0 ? 0 : Math.round((count / ms) * 1000 * 10) / 10;
}

/** Builds the report of a finished run. */
export function buildReport(stats: FleetStats, end: FleetEndState, run: ReportRunInfo): SimReport {
  return {
    run,
    devices: {
      total: run.devices,
      connected: stats.everConnected,
      neverConnected: run.devices - stats.everConnected,
      connectedAtEnd: end.connectedAtEnd,
      connectAttempts: stats.connectAttempts,
      reconnects: stats.reconnects,
      resumedHandshakes: stats.resumedHandshakes,
      peakPendingConnects: stats.peakPendingConnects,
    },
    handshakeMs: stats.handshake.summary(),
    reconnectMs: stats.reconnect.summary(),
    messages: {
      generated: stats.generated,
      sent: stats.sent,
      resent: stats.resent,
      acked: stats.acked,
      nacked: sortedRecord(stats.nacked),
      requeued: stats.requeued,
      rejected: stats.rejected,
      lost: end.lost,
      unsent: end.unsent,
      dropped: end.dropped,
      junk: stats.junkSent,
    },
    ackLatencyMs: stats.ackLatency.summary(),
    throughput: { ...end.sending, overallAckedPerSec: perSec(stats.acked, run.elapsedMs) },
    closes: sortedRecord(stats.closes),
    renewals: { ...stats.renewals, refused: sortedRecord(stats.renewals.refused) },
    charts: { ackLatency: stats.ackLatency.buckets(), handshake: stats.handshake.buckets(), throughput: stats.series.points() },
  };
}

/**
 * Why a `normal` run failed, or null when it passed: any lost message, any
 * reading never sent (SPEC: a hub that went away before the end leaves them
 * queued), any reading dropped by a full outbox, any device that never
 * connected.
 */
export function normalRunFailure(report: SimReport): string | null {
  const reasons: string[] = [];
  if (report.messages.lost > 0) reasons.push(`${report.messages.lost} messages lost`);
  if (report.messages.unsent > 0) reasons.push(`${report.messages.unsent} readings never sent (${report.devices.connectedAtEnd} / ${report.devices.total} devices connected at the end)`);
  if (report.messages.dropped > 0) reasons.push(`${report.messages.dropped} readings dropped by full outboxes`);
  if (report.devices.neverConnected > 0) reasons.push(`${report.devices.neverConnected} devices never connected`);
  return reasons.length === 0 ? null : reasons.join(', ');
}

function ms(value: number): string {
  return value >= 100 ? `${Math.round(value)} ms` : `${value.toFixed(value >= 10 ? 1 : 2)} ms`;
}

function codes(record: Readonly<Record<string, number>>): string {
  const entries = Object.entries(record);
  return entries.length === 0 ? 'none' : entries.map(([code, n]) => `${code} ×${n}`).join(', ');
}

/** The report as an aligned two-column text table, for the terminal. */
export function formatReportTable(report: SimReport): string {
  const m = report.messages;
  const rows: Array<[string, string]> = [
    ['behavior', `${report.run.behavior} (${report.run.devices} devices, ${report.run.ratePerDevice} msg/s each, TLS ${report.run.tls})`],
    ['url', report.run.url],
    ['duration', `${(report.run.elapsedMs / 1000).toFixed(1)} s (fleet up in ${(report.run.startupMs / 1000).toFixed(1)} s, sending ${(report.run.sendingMs / 1000).toFixed(1)} s, then drain)`],
    ['devices connected', `${report.devices.connected} / ${report.devices.total} (never: ${report.devices.neverConnected}, at end: ${report.devices.connectedAtEnd})`],
    ['connect attempts', `${report.devices.connectAttempts} (reconnects: ${report.devices.reconnects}${report.devices.resumedHandshakes > 0 ? `, TLS sessions resumed: ${report.devices.resumedHandshakes}` : ''})`],
    ['handshake p50 / p99', `${ms(report.handshakeMs.p50)} / ${ms(report.handshakeMs.p99)}`],
    ['messages sent', `${m.sent} (resent after reconnect: ${m.resent})`],
    ['acked', String(m.acked)],
    ['nacked', codes(m.nacked)],
    ['requeued / rejected', `${m.requeued} / ${m.rejected}`],
    ['lost', String(m.lost)],
    ['never sent / dropped', `${m.unsent} / ${m.dropped}`],
    ['ack latency p50 / p99 / max', `${ms(report.ackLatencyMs.p50)} / ${ms(report.ackLatencyMs.p99)} / ${ms(report.ackLatencyMs.max)}`],
    ['throughput', `${report.throughput.ackedPerSec} acked msg/s while sending (${report.throughput.overallAckedPerSec} over the run)`],
    ['closes', codes(report.closes)],
  ];
  if (report.reconnectMs.count > 0) rows.splice(6, 0, ['reconnect p50 / p99', `${ms(report.reconnectMs.p50)} / ${ms(report.reconnectMs.p99)} (drop to next hello)`]);
  const r = report.renewals;
  if (r.requested > 0) rows.push(['certificates renewed', `${r.renewed} (requested: ${r.requested}, received: ${r.received}, fell back to the old one: ${r.fellBack}, refused: ${codes(r.refused)})`]);
  if (m.junk > 0) rows.splice(rows.findIndex(([k]) => k === 'acked'), 0, ['misbehaving frames', String(m.junk)]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}
