/**
 * The one HTTP request a device connection carries: its WebSocket upgrade
 * (SPEC: only `GET /v1/device` upgrades; anything else 404). It is read
 * straight off the TLS socket instead of through Node's HTTP server, which
 * would set up a parser, a request object, its timers and its connection
 * bookkeeping for every device, only to hand the socket to `ws` one request
 * later: a measurable share of a resumed handshake's CPU (docs/benchmarks.md).
 *
 * What it accepts is what Node's HTTP parser accepts in its strict default
 * mode, for a request without a body: a request line `METHOD SP target SP
 * HTTP/1.x`, header lines `name: value` ending in CRLF, and an empty line.
 * Everything else is a 400, and a head longer than {@link MAX_REQUEST_HEAD_BYTES}
 * a 431, as Node answers both. Bytes after the head (a first WebSocket frame
 * sent early) are kept for `ws` as its `head`.
 */
import type { TLSSocket } from 'node:tls';

/**
 * The largest request head a device may send, request line and headers
 * together: Node's own default `maxHeaderSize`, which applied while the
 * listener used Node's HTTP server. An ESP32's upgrade request is 200–300
 * bytes; a client that sends more is refused with 431 instead of growing the
 * hub's buffer without end.
 */
export const MAX_REQUEST_HEAD_BYTES = 16 * 1024;

/** A parsed request head, the fields `ws`'s `handleUpgrade` reads. */
export interface RequestHead {
  readonly method: string;
  readonly url: string;
  readonly httpVersion: string;
  /** Lower-case names; repeated headers joined with `, ` as Node does for most headers. */
  readonly headers: Record<string, string>;
}

/** Why a request head was refused, as the HTTP status to answer. */
export type HeadRefusal = 400 | 431;

const END_OF_HEAD = Buffer.from('\r\n\r\n', 'latin1');

/** RFC 9110 `tchar`: what a method or a header name is made of. */
const TCHAR = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]";
/**
 * A whole request head as Node's strict parser accepts it: `METHOD SP target
 * SP HTTP/1.x`, then header lines `name:value` with a token for a name (no
 * space before the colon: request smuggling) and no control character but
 * HTAB in a value (no bare CR or LF, no folded line). One regular expression,
 * run by V8's native regexp code, instead of a loop over the characters.
 */
const REQUEST_HEAD = new RegExp(`^${TCHAR}+ [^\\x00-\\x20\\x7f]+ HTTP/1\\.[01](?:\\r\\n${TCHAR}+:[^\\x00-\\x08\\x0a-\\x1f\\x7f]*)*$`);

const SPACE = 0x20;
const TAB = 0x09;

/**
 * Parses a request head without its final CRLF CRLF (latin1 text, one
 * character per byte), or null when it is malformed.
 */
export function parseRequestHead(text: string): RequestHead | null {
  if (!REQUEST_HEAD.test(text)) return null;
  let lineEnd = text.indexOf('\r\n');
  if (lineEnd === -1) lineEnd = text.length;
  const methodEnd = text.indexOf(' ');
  const urlEnd = text.indexOf(' ', methodEnd + 1);
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  let at = lineEnd + 2;
  while (at < text.length + 2) {
    let end = text.indexOf('\r\n', at);
    if (end === -1) end = text.length;
    const colon = text.indexOf(':', at);
    let valueStart = colon + 1;
    let valueEnd = end;
    while (valueStart < valueEnd && (text.charCodeAt(valueStart) === SPACE || text.charCodeAt(valueStart) === TAB)) valueStart += 1;
    while (valueEnd > valueStart && (text.charCodeAt(valueEnd - 1) === SPACE || text.charCodeAt(valueEnd - 1) === TAB)) valueEnd -= 1;
    const key = text.slice(at, colon).toLowerCase();
    const value = text.slice(valueStart, valueEnd);
    const previous = headers[key];
    headers[key] = previous === undefined ? value : `${previous}, ${value}`;
    at = end + 2;
  }
  return { method: text.slice(0, methodEnd), url: text.slice(methodEnd + 1, urlEnd), httpVersion: text.slice(urlEnd + 1, lineEnd), headers };
}

/** `upgrade` as one of the comma-separated tokens of a Connection header, in any case. */
const UPGRADE_TOKEN = /(?:^|,)[ \t]*upgrade[ \t]*(?:,|$)/i;

/** Whether a request asks to switch protocols: an `Upgrade` header and `upgrade` among the `Connection` tokens (as Node decides between its `request` and `upgrade` events). */
export function isUpgradeRequest(head: RequestHead): boolean {
  const connection = head.headers.connection;
  return head.headers.upgrade !== undefined && connection !== undefined && UPGRADE_TOKEN.test(connection);
}

/** What {@link readRequestHead} calls back with: the head and the bytes after it, or the status to refuse with. */
export type HeadCallback = (result: { head: RequestHead; rest: Buffer } | HeadRefusal) => void;

/**
 * Reads one request head off `socket` and calls `done` once: with the head
 * and the bytes after it, or with the status to refuse with. A socket that
 * closes first never calls back (its deadline is the caller's). The socket is
 * left neither flowing nor paused, as Node's HTTP server leaves it at an
 * upgrade, so the next `data` listener (ws's) starts the flow again.
 */
export function readRequestHead(socket: TLSSocket, done: HeadCallback, maxBytes = MAX_REQUEST_HEAD_BYTES): void {
  // A head split over several TLS records is gathered in one buffer that doubles as it fills, so a
  // client sending a byte at a time costs copies in proportion to what it sent, not its square.
  let gathered: Buffer | null = null;
  let used = 0;
  const onData = (chunk: Buffer): void => {
    let data = chunk;
    let end = gathered === null ? chunk.indexOf(END_OF_HEAD) : -1;
    if (end === -1) {
      if (gathered === null || used + chunk.length > gathered.length) {
        const grown = Buffer.allocUnsafe(Math.min(maxBytes + chunk.length, Math.max(1024, 2 * (used + chunk.length))));
        if (gathered !== null) gathered.copy(grown, 0, 0, used);
        gathered = grown;
      }
      // Only the bytes that could still end the head are searched again.
      const searchFrom = Math.max(0, used - (END_OF_HEAD.length - 1));
      used += chunk.copy(gathered, used);
      data = gathered.subarray(0, used);
      end = data.indexOf(END_OF_HEAD, searchFrom);
      if (end === -1 && used <= maxBytes) return;
    }
    if (end === -1 || end > maxBytes) {
      finish(431);
      return;
    }
    const head = parseRequestHead(data.toString('latin1', 0, end));
    finish(head === null ? 400 : { head, rest: data.subarray(end + END_OF_HEAD.length) });
  };
  const finish = (result: Parameters<HeadCallback>[0]): void => {
    socket.removeListener('data', onData);
    // What Node's HTTP server does at an upgrade; the property is writable, its type says readonly.
    (socket as { readableFlowing: boolean | null }).readableFlowing = null;
    done(result);
  };
  socket.on('data', onData);
}
