/**
 * The hub's Prometheus metrics (served on the console's `/metrics`). Labels
 * are bounded sets only (reason, code, result): never a device id.
 */
import type { WireErrorCode } from '../errors.js';
import type { BoundCounter, Counter, Gauge, MetricsRegistry } from '../metrics.js';
import type { StoreStats } from '../store/types.js';

/**
 * Why a TLS handshake failed, as a bounded label set: `timeout` is Node's
 * `handshakeTimeout` firing, `aborted` a client that closed or reset the
 * connection during its handshake.
 */
export type HandshakeFailure = 'no_certificate' | 'unknown_ca' | 'expired' | 'revoked' | 'revoked_resumed' | 'bad_certificate' | 'protocol' | 'timeout' | 'aborted' | 'other';

/**
 * Maps a refused handshake to a {@link HandshakeFailure}. Node verifies the
 * client certificate right after OpenSSL's handshake and, with
 * `rejectUnauthorized`, destroys the socket with the verify error in
 * `authorizationError` (the error itself then only says "socket hang up").
 */
export function handshakeFailureReason(err: Error & { code?: string }, authorizationError?: string | Error | null): HandshakeFailure {
  const verify = authorizationError instanceof Error ? authorizationError.message : (authorizationError ?? '');
  switch (verify) {
    case 'CERT_REVOKED':
      return 'revoked';
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return 'expired';
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'CERT_SIGNATURE_FAILURE':
      return 'unknown_ca';
    case '':
      break;
    default:
      // INVALID_PURPOSE (no clientAuth), UNABLE_TO_GET_CRL, CRL_HAS_EXPIRED ...
      return 'bad_certificate';
  }
  const text = `${err.code ?? ''} ${err.message}`;
  if (/PEER_DID_NOT_RETURN_A_CERTIFICATE|CERTIFICATE_REQUIRED|no certificate/i.test(text)) return 'no_certificate';
  if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'timeout';
  // Node reports a peer that went away mid-handshake as ECONNRESET ("socket hang up" when it closed cleanly).
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || /socket hang up/i.test(text)) return 'aborted';
  if (/timed? ?out/i.test(text)) return 'timeout';
  if (/ssl|tls|protocol|cipher|version/i.test(text)) return 'protocol';
  return 'other';
}

/** What the device-side gauges read at scrape time, so nothing is updated per connection. */
export interface HubMetricSources {
  readonly storeStats: () => StoreStats;
  /** False while the store's writes fail. @defaultValue always up */
  readonly storeUp?: () => boolean;
  /** Open TCP sockets on the device listener. */
  readonly openSockets: () => number;
  /** Connected devices. */
  readonly devicesOnline: () => number;
  /** Bytes of replies queued for devices and not read by them, all devices together. */
  readonly unreadReplyBytes: () => number;
  /** Devices the hub is not reading from now (their unread replies are past the limit). */
  readonly readsPausedNow: () => number;
}

/** The device side's metrics, registered once on the hub's registry. */
export class HubMetrics {
  readonly refused: Counter;
  /** Completed handshakes by result, counted on every connection: bound once. */
  readonly handshakesFull: BoundCounter;
  readonly handshakesResumed: BoundCounter;
  readonly handshakeFailures: Counter;
  readonly upgradesRefused: Counter;
  /** Times the hub stopped reading from a device whose unread replies passed `maxUnreadReplyBytes`. */
  readonly readsPaused: Counter;
  /** Per-message counters are plain numbers (rendered at scrape time): no label lookup on the hot path. */
  #accepted = 0;
  #bytes = 0;
  readonly #nacked: Record<WireErrorCode, number> = { invalid_json: 0, invalid_message: 0, rate_limited: 0, quota_exceeded: 0 };
  readonly #closes: Counter;
  readonly #closesByCode = new Map<number, BoundCounter>();
  readonly crlExpired: Gauge;
  /** nextUpdate of the loaded CRL in Unix seconds, so users can alert ahead of its expiry (0: no CRL, or none given). */
  readonly crlNextUpdate: Gauge;
  readonly crlRevoked: Gauge;
  readonly crlReloads: Counter;
  /** cRLNumber of the loaded CRL (0: none), so hubs that disagree on the CRL show it. */
  readonly crlNumber: Gauge;
  /** New CRL text not loaded, by reason (invalid, older, same_number, unnumbered, missing): the loaded CRL stays. */
  readonly crlRefused: Counter;
  /** `/v1/provision` requests by outcome: issued, repeat, or the refusal. */
  readonly provisioning: Counter;

  constructor(registry: MetricsRegistry, sources: HubMetricSources) {
    registry.observedGauge('fleethub_device_sockets', 'Open TCP sockets on the device listener', sources.openSockets);
    registry.observedGauge('fleethub_device_connections', 'Connected devices (open device WebSockets)', sources.devicesOnline);
    registry.observedGauge('fleethub_store_up', '1 while the store can write; 0 while its writes fail (devices refused with 1011, /healthz 503)', () => (sources.storeUp?.() === false ? 0 : 1));
    this.refused = registry.counter('fleethub_device_connections_refused_total', 'TCP connections refused before TLS, by reason');
    const handshakes = registry.counter('fleethub_tls_handshakes_total', 'Completed device TLS handshakes, by result (full or resumed)');
    this.handshakesFull = handshakes.labels({ result: 'full' });
    this.handshakesResumed = handshakes.labels({ result: 'resumed' });
    this.handshakeFailures = registry.counter('fleethub_tls_handshake_failures_total', 'Failed device TLS handshakes, by reason');
    this.upgradesRefused = registry.counter('fleethub_device_upgrades_refused_total', 'Device HTTP requests refused after TLS, by reason');
    this.readsPaused = registry.counter('fleethub_device_reads_paused_total', 'Times the hub stopped reading from a device that left more than maxUnreadReplyBytes of replies unread');
    registry.observedGauge('fleethub_device_unread_reply_bytes', 'Bytes of replies queued for devices and not yet read by them', sources.unreadReplyBytes);
    registry.observedGauge('fleethub_device_reads_paused', 'Devices the hub is not reading from now, until they read their replies', sources.readsPausedNow);
    registry.collect(() => {
      let text = '# HELP fleethub_messages_accepted_total Telemetry messages accepted and handed to the store\n# TYPE fleethub_messages_accepted_total counter\n';
      text += `fleethub_messages_accepted_total ${this.#accepted}\n`;
      text += '# HELP fleethub_messages_nacked_total Telemetry messages nacked, by code\n# TYPE fleethub_messages_nacked_total counter\n';
      for (const [code, count] of Object.entries(this.#nacked)) text += `fleethub_messages_nacked_total{code="${code}"} ${count}\n`;
      text += '# HELP fleethub_device_received_bytes_total WebSocket payload bytes received from devices\n# TYPE fleethub_device_received_bytes_total counter\n';
      return `${text}fleethub_device_received_bytes_total ${this.#bytes}\n`;
    });
    this.#closes = registry.counter('fleethub_device_closes_total', 'Device connections closed, by close code');
    this.crlExpired = registry.gauge('fleethub_crl_expired', '1 while the loaded CRL is past its nextUpdate (revocation then enforced by the hub, not OpenSSL)');
    this.crlNextUpdate = registry.gauge('fleethub_crl_next_update_timestamp_seconds', 'nextUpdate of the loaded CRL as a Unix timestamp in seconds (0: no CRL loaded)');
    this.crlRevoked = registry.gauge('fleethub_crl_revoked_serials', 'Serials in the loaded CRL');
    this.crlReloads = registry.counter('fleethub_crl_reloads_total', 'Times crl.pem was reloaded after a change');
    this.crlNumber = registry.gauge('fleethub_crl_number', 'CRL number of the loaded CRL (0: no CRL, or one without a number)');
    this.crlRefused = registry.counter('fleethub_crl_refused_total', 'Changed CRLs not loaded (the loaded one stays), by reason: invalid, older, same_number, unnumbered, missing');
    this.provisioning = registry.counter('fleethub_provisioning_total', 'Provisioning requests on /v1/provision, by outcome: issued, repeat, not_allowed, already_provisioned, csr_invalid, claim_revoked, rate_limited, timeout');
    registry.collect(() => {
      const s = sources.storeStats();
      return [
        '# HELP fleethub_store_bytes Bytes the store keeps on disk: segment files and their history index files\n# TYPE fleethub_store_bytes gauge',
        `fleethub_store_bytes ${s.bytes}`,
        '# HELP fleethub_store_segments Segment files\n# TYPE fleethub_store_segments gauge',
        `fleethub_store_segments ${s.segments}`,
        '# HELP fleethub_store_readings Readings retained\n# TYPE fleethub_store_readings gauge',
        `fleethub_store_readings ${s.readings}`,
        '# HELP fleethub_store_fsyncs_total Group commits made durable (one write with O_DSYNC, or a write and an fdatasync)\n# TYPE fleethub_store_fsyncs_total counter',
        `fleethub_store_fsyncs_total ${s.fsyncs}`,
        '# HELP fleethub_store_fsync_seconds_total Time spent writing group commits durably\n# TYPE fleethub_store_fsync_seconds_total counter',
        `fleethub_store_fsync_seconds_total ${s.fsyncSeconds}`,
        '# HELP fleethub_store_last_fsync_ms Duration of the latest durable group-commit write\n# TYPE fleethub_store_last_fsync_ms gauge',
        `fleethub_store_last_fsync_ms ${s.lastFsyncMs}`,
        '',
      ].join('\n');
    });
  }

  /** Counts one frame of `bytes` payload bytes. */
  frame(bytes: number): void {
    this.#bytes += bytes;
  }

  /** Counts accepted messages. */
  accept(count: number): void {
    this.#accepted += count;
  }

  /** Counts a device connection closed with `code`. */
  closed(code: number): void {
    let counter = this.#closesByCode.get(code);
    if (counter === undefined) {
      counter = this.#closes.labels({ code: String(code) });
      this.#closesByCode.set(code, counter);
    }
    counter.inc();
  }

  /** Counts one nack. */
  nack(code: WireErrorCode): void {
    this.#nacked[code] += 1;
  }
}
