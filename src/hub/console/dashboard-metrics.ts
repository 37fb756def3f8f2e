/**
 * The console's Prometheus figures (no per-device or per-token labels: the
 * label sets are small and fixed).
 */
import type { Counter, Gauge, MetricsRegistry } from '../../metrics.js';

/** Handles the console listener and its sessions update. */
export interface DashboardMetrics {
  /** Open dashboard WebSockets, authenticated or not. */
  readonly connections: Gauge;
  /** Active subscriptions over all dashboards. */
  readonly subscriptions: Gauge;
  /** Messages dropped for slow dashboards. */
  readonly dropped: Counter;
  /** Frames sent to dashboards. */
  readonly sent: Counter;
  /** Open console TCP sockets (admitted by the connection gate, not closed yet). */
  readonly sockets: Gauge;
  /** Sockets and upgrades refused before a WebSocket existed, by reason (DASHBOARD_REASONS' `drop` and `http` rows). */
  readonly refused: Counter;
  /** Dashboard connections closed by the hub, by reason. */
  readonly closed: Counter;
}

/** Registers the console's metrics in `registry`. */
export function registerDashboardMetrics(registry: MetricsRegistry): DashboardMetrics {
  return {
    connections: registry.gauge('fleethub_dashboard_connections', 'Open dashboard WebSocket connections'),
    subscriptions: registry.gauge('fleethub_dashboard_subscriptions', 'Active dashboard subscriptions'),
    dropped: registry.counter('fleethub_dashboard_dropped_total', 'Messages dropped because a dashboard read too slowly'),
    sent: registry.counter('fleethub_dashboard_messages_sent_total', 'Frames sent to dashboards'),
    sockets: registry.gauge('fleethub_console_sockets', 'Open console TCP sockets, counted against console.maxSockets'),
    refused: registry.counter('fleethub_dashboard_refused_total', 'Console sockets and dashboard upgrades refused before a WebSocket existed, by reason'),
    closed: registry.counter('fleethub_dashboard_closed_total', 'Dashboard connections closed by the hub, by reason'),
  };
}
