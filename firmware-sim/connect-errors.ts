/**
 * Names why a connection attempt failed before the WebSocket opened, for
 * the report's closes-by-code table. Pure.
 */

/** Node's codes for a server certificate the device itself rejected (wrong `--ca`, wrong host name, expired). */
const SERVER_CERT_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * `connect_error` (TCP refused or unreachable), `connect_timeout` (no
 * upgrade in time), `server_cert_rejected` (the device refused the hub's
 * certificate), `http_<status>` (the hub answered the upgrade with an HTTP
 * error), `handshake_refused` or `handshake_refused:<alert>` (the hub ended
 * the TLS handshake, as it does to a bad client certificate; the TLS alert
 * name when there was one, e.g. `handshake_refused:unknown_ca`).
 */
export function classifyConnectError(err: unknown): string {
  const code = typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : '';
  const message = err instanceof Error ? err.message : '';
  if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EADDRNOTAVAIL') return 'connect_error';
  if (SERVER_CERT_CODES.has(code)) return 'server_cert_rejected';
  if (/handshake has timed out/i.test(message)) return 'connect_timeout';
  const http = /Unexpected server response: (\d{3})/.exec(message);
  if (http) return `http_${http[1]}`;
  const alert = /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_(.+)$/.exec(code);
  if (alert) return `handshake_refused:${(alert[1] as string).toLowerCase()}`;
  return 'handshake_refused';
}
