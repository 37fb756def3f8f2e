/** The close codes `ws` sends when it closes a connection itself (a device session records the one actually sent). */
import { CLOSE } from '../errors.js';

/**
 * The close code ws sends for each error it reports (its documented
 * `WS_ERR_*` codes, RFC 6455 §7.4.1): ws closes the connection itself, and
 * its 'close' event then carries the peer's code (1006 when the peer sent
 * none), so the session records the one actually sent.
 */
const WS_ERROR_CLOSE_CODES: ReadonlyMap<string, number> = new Map([
  ['WS_ERR_INVALID_UTF8', 1007],
  ['WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', CLOSE.TOO_BIG],
  ['WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH', CLOSE.TOO_BIG],
  ['WS_ERR_TOO_MANY_BUFFERED_PARTS', CLOSE.POLICY],
]);

/** The close code ws sent for `err`: protocol errors 1002 unless the table says otherwise; null for a socket error (no close frame). */
export function wsErrorCloseCode(err: { code?: unknown }): number | null {
  if (typeof err.code !== 'string' || !err.code.startsWith('WS_ERR_')) return null;
  return WS_ERROR_CLOSE_CODES.get(err.code) ?? 1002;
}
