/**
 * The one HTTP request a device connection carries: its WebSocket upgrade
 * (SPEC: only `GET /v1/device` upgrades; anything else 404). It is read
 * straight off the TLS socket instead of through Node's HTTP server, which
 * would set up a parser, a request object, its timers and its connection
 * bookkeeping for every device, only to hand the socket to `ws` one request
 * later: about 3–8 % of a resumed handshake's CPU (README: Benchmark).
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
const HTTP_1 = /^HTTP\/1\.[01]$/;

/** RFC 9110 `tchar`, by character code: what a method or a header name is made of. */
const TOKEN_CHARS = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TOKEN_CHARS[c.charCodeAt(0)] = 1;

function isToken(text: string, start: number, end: number): boolean {
  if (end <= start) return false;
  for (let i = start; i < end; i += 1) {
    const code = text.charCodeAt(i);
    if (code >= 128 || TOKEN_CHARS[code] === 0) return false;
  }
  return true;
}

/** A control character other than HTAB (never in a header value or a target). */
function hasControl(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i += 1) {
    const code = text.charCodeAt(i);
    if ((code < 0x20 && code !== 0x09) || code === 0x7f) return true;
  }
  return false;
}

const SPACE = 0x20;
const TAB = 0x09;

/**
 * Parses a request head without its final CRLF CRLF (latin1 text, one
 * character per byte), or null when it is malformed. Plain loops over
 * character codes, no regular expression per header: it runs once per
 * device connection.
 */
export function parseRequestHead(text: string): RequestHead | null {
  let lineEnd = text.indexOf('\r\n');
  if (lineEnd === -1) lineEnd = text.length;
  const methodEnd = text.indexOf(' ');
  const urlEnd = methodEnd === -1 ? -1 : text.indexOf(' ', methodEnd + 1);
  if (urlEnd === -1 || urlEnd >= lineEnd || !isToken(text, 0, methodEnd) || urlEnd === methodEnd + 1) return null;
  if (hasControl(text, methodEnd + 1, urlEnd)) return null;
  const httpVersion = text.slice(urlEnd + 1, lineEnd);
  if (!HTTP_1.test(httpVersion)) return null;
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  let at = lineEnd + 2;
  while (at < text.length + 2) {
    let end = text.indexOf('\r\n', at);
    if (end === -1) end = text.length;
    const colon = text.indexOf(':', at);
    // No colon, a space before it (smuggling), or a folded line: not HTTP Node would accept.
    if (colon === -1 || colon >= end || !isToken(text, at, colon) || hasControl(text, colon + 1, end)) return null;
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
  return { method: text.slice(0, methodEnd), url: text.slice(methodEnd + 1, urlEnd), httpVersion, headers };
}

/** Whether a request asks to switch protocols: an `Upgrade` header and `upgrade` among the `Connection` tokens (as Node decides between its `request` and `upgrade` events). */
export function isUpgradeRequest(head: RequestHead): boolean {
  const connection = head.headers.connection;
  if (head.headers.upgrade === undefined || connection === undefined) return false;
  return connection.split(',').some((token) => token.trim().toLowerCase() === 'upgrade');
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
