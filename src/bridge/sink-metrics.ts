/**
 * Per-sink metrics in the Prometheus text format (exposition format 0.0.4),
 * labelled by sink name and type (a bounded set, never a device id).
 */
import { Counter, Gauge } from '../metrics.js';
import type { SinkRunnerStats } from './sink-runner.js';

/** Renders the figures of every runner. */
export function renderSinkMetrics(stats: ReadonlyArray<SinkRunnerStats & { readonly type: string }>): string {
  const delivered = new Counter('fleethub_sink_delivered_total', 'Readings each sink delivered.');
  const failures = new Counter('fleethub_sink_failures_total', 'Failed delivery attempts (each is retried with backoff).');
  const dropped = new Counter(
    'fleethub_sink_dropped_total',
    'Readings a sink will never deliver: retention deleted them first, the destination refused them for good, or no mapping for the device.',
  );
  const lagMessages = new Gauge('fleethub_sink_lag_messages', 'Stored readings the sink has not delivered yet.');
  const lagSeconds = new Gauge('fleethub_sink_lag_seconds', 'Age of the oldest reading the sink is delivering, 0 when caught up.');
  const up = new Gauge('fleethub_sink_up', '1 when the sink delivers, 0 while it retries after a failure.');
  const active = new Gauge('fleethub_sink_active', '1 on the hub running the sink, 0 on a hub waiting for its lease (cluster mode).');
  for (const s of stats) {
    const labels = { sink: s.name, type: s.type };
    delivered.inc(labels, s.delivered);
    failures.inc(labels, s.failures);
    dropped.inc({ ...labels, reason: 'retention' }, s.skipped);
    dropped.inc({ ...labels, reason: 'rejected' }, s.rejected);
    dropped.inc({ ...labels, reason: 'unmapped' }, s.unmapped);
    lagMessages.set(s.lagMessages, labels);
    lagSeconds.set(s.lagSeconds, labels);
    up.set(s.state === 'up' ? 1 : 0, labels);
    active.set(s.active ? 1 : 0, labels);
  }
  if (stats.length === 0) return '';
  return [delivered, failures, dropped, lagMessages, lagSeconds, up, active].map((m) => m.render()).join('');
}
