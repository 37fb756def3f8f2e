/**
 * The Origin rule of `/v1/stream` (SPEC: Dashboard protocol), pure. It stops
 * cross-site WebSocket hijacking: a page on another site can make the
 * browser open a WebSocket to the hub, but the browser always says which
 * page asked, in `Origin`, and the hub refuses with 403 before any WebSocket
 * exists. Clients that are not browsers send no Origin; they still need a
 * token.
 */

/**
 * True when an upgrade with this `Origin` may proceed. `origins` null means
 * only the console's own origin: `https://` plus the request's Host (the TLS
 * certificate already ties that host to the hub, so a DNS-rebinding page
 * cannot pass as it). Comparison is exact after lower-casing scheme and host,
 * and the literal `null` origin (sandboxed frames, file://) is never allowed
 * unless listed.
 */
export function originAllowed(origin: string | undefined, host: string | undefined, origins: readonly string[] | null): boolean {
  if (origin === undefined) return true;
  const wanted = origin.toLowerCase();
  if (origins === null) return host !== undefined && host.length > 0 && wanted === `https://${host.toLowerCase()}`;
  return origins.some((allowed) => allowed.toLowerCase() === wanted);
}
