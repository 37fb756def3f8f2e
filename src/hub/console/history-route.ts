/**
 * `GET /v1/devices/<id>/readings?from=<ms>&to=<ms>&limit=<n>&cursor=<next>`
 * (SPEC: History): a page of one device's stored readings, for the web
 * dashboard's charts and for scripts.
 *
 * The token comes in `Authorization: Bearer <token>` and nowhere else:
 * never a cookie (a request a foreign page makes the browser send carries
 * no such header, so there is no CSRF), never the URL (URLs end up in logs
 * and browser history). No CORS header is sent, so a foreign page cannot
 * read an answer either. Checks, in this order, each refused with its row of
 * DASHBOARD_REASONS and counted in `fleethub_dashboard_refused_total`:
 *
 * 1. the token: none, malformed, tampered, expired, or an IP past its
 *    refused auths (the WebSocket's throttle, auth-throttle.ts) → 401;
 * 2. the device id (SPEC grammar) and the query: unknown or repeated
 *    parameters, a bound that is not a non-negative integer, `from` after
 *    `to`, a `limit` outside 1..`historyMaxLimit`, a cursor that is not one
 *    of this device's → 400;
 * 3. the token's device glob must cover the device, and its scopes include
 *    `read` (SPEC: Token scopes) → 403;
 * 4. at most `historyMaxInFlight` requests run at once → 503 + Retry-After.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DASHBOARD_REASONS, isFleethubError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { isValidDeviceId } from '../../pki/device-id.js';
import { decodeHistoryCursor } from '../../store/history-query.js';
import type { HistoryQuery } from '../../store/types.js';
import type { ConsoleListenerConfig } from '../config.js';
import type { LiveFeed } from '../live-feed.js';
import type { DashboardMetrics } from './dashboard-metrics.js';
import { verifyToken, type TokenClaims } from './dashboard-token.js';
import { globMatches } from './device-glob.js';
import type { TokenKeyFile } from './token-key-file.js';

/** Readings in a page when the request names no `limit` (SPEC: default 1000). */
export const DEFAULT_HISTORY_LIMIT = 1000;

const PATH = /^\/v1\/devices\/([^/]{1,200})\/readings$/;
const PARAMS = new Set(['from', 'to', 'limit', 'cursor']);
/** A bound in ms since epoch: 1 to 16 digits (a safe integer). */
const MS = /^\d{1,16}$/;
const LIMIT = /^\d{1,9}$/;

/** The device a history path names (still encoded), or null when the path is not a history path. */
export function historyPathDevice(path: string): string | null {
  return PATH.exec(path)?.[1] ?? null;
}

/** What the route needs of the console listener. */
export interface HistoryRouteHost {
  readonly config: ConsoleListenerConfig;
  /** The token key (exists from listen() on). */
  readonly keyFile: TokenKeyFile;
  readonly feed: LiveFeed;
  readonly metrics: DashboardMetrics;
  readonly log: Logger;
  authBlocked(ip: string): boolean;
  authRefused(ip: string, throttled: boolean): void;
}

type HistoryRefusal = 'history_unauthorized' | 'history_forbidden' | 'history_bad_request' | 'history_busy' | 'history_store_failed';

/** Thrown inside the route for a request it refuses; answered by {@link HistoryRoute.serve}. */
class Refusal {
  constructor(readonly reason: HistoryRefusal, readonly message: string) {}
}

/** The query of a request, checked (the store checks it again). */
function parseQuery(search: URLSearchParams, device: string, maxLimit: number): HistoryQuery {
  const seen = new Set<string>();
  for (const key of search.keys()) {
    if (!PARAMS.has(key)) throw new Refusal('history_bad_request', `unknown parameter ${JSON.stringify(key.slice(0, 32))} (known: from, to, limit, cursor)`);
    if (seen.has(key)) throw new Refusal('history_bad_request', `parameter ${key} given twice`);
    seen.add(key);
  }
  const bound = (key: 'from' | 'to'): number | undefined => {
    const text = search.get(key);
    if (text === null) return undefined;
    if (!MS.test(text) || !Number.isSafeInteger(Number(text))) throw new Refusal('history_bad_request', `${key} must be a time in ms since epoch (a non-negative integer)`);
    return Number(text);
  };
  let from = bound('from');
  let to = bound('to');
  const limitText = search.get('limit');
  const limit = limitText === null ? Math.min(DEFAULT_HISTORY_LIMIT, maxLimit) : Number(limitText);
  if (limitText !== null && (!LIMIT.test(limitText) || limit < 1 || limit > maxLimit)) {
    throw new Refusal('history_bad_request', `limit must be an integer from 1 to ${maxLimit}`);
  }
  const cursorText = search.get('cursor');
  let cursor: string | undefined;
  if (cursorText !== null) {
    const decoded = decodeHistoryCursor(cursorText);
    if (decoded === null || decoded.device !== device) throw new Refusal('history_bad_request', 'cursor is not the next of a page of this device');
    if ((from !== undefined && from !== decoded.from) || (to !== undefined && to !== decoded.to)) {
      throw new Refusal('history_bad_request', 'a cursor goes on with its own range: give from and to as before, or not at all');
    }
    from = decoded.from;
    to = decoded.to;
    cursor = cursorText;
  }
  const start = from ?? 0;
  const end = to ?? Number.MAX_SAFE_INTEGER;
  if (start > end) throw new Refusal('history_bad_request', 'from must not be after to');
  return { device, from: start, to: end, limit, cursor };
}

/** The history route of one console listener. */
export class HistoryRoute {
  readonly #host: HistoryRouteHost;
  #inFlight = 0;

  constructor(host: HistoryRouteHost) {
    this.#host = host;
  }

  /** Answers a GET (or HEAD) of a history path; `encodedDevice` from {@link historyPathDevice}. */
  serve(req: IncomingMessage, res: ServerResponse, encodedDevice: string, headers: Record<string, string>): void {
    const ip = req.socket.remoteAddress ?? 'unknown';
    let query: HistoryQuery;
    let claims: TokenClaims;
    try {
      claims = this.#authenticate(req, ip);
      let device: string;
      try {
        device = decodeURIComponent(encodedDevice);
      } catch {
        device = '';
      }
      if (!isValidDeviceId(device)) throw new Refusal('history_bad_request', 'not a device id');
      query = parseQuery(new URL(req.url ?? '/', 'https://console').searchParams, device, this.#host.config.historyMaxLimit);
      if (!globMatches(claims.devices, device)) throw new Refusal('history_forbidden', 'the token does not cover this device');
      if (!claims.scopes.includes('read')) throw new Refusal('history_forbidden', 'the token has no read scope');
      if (this.#inFlight >= this.#host.config.historyMaxInFlight) throw new Refusal('history_busy', 'too many history requests at once; try again');
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      this.#refuse(res, headers, err);
      return;
    }
    this.#inFlight += 1;
    void this.#answer(res, headers, query, claims)
      .catch((err: unknown) => {
        this.#host.log.log('error', 'console.history_failed', { reason: err instanceof Error ? err.message : String(err) });
        res.destroy();
      })
      .finally(() => {
        this.#inFlight -= 1;
      });
  }

  async #answer(res: ServerResponse, headers: Record<string, string>, query: HistoryQuery, claims: TokenClaims): Promise<void> {
    let body: string;
    try {
      const page = await this.#host.feed.history(query);
      body = JSON.stringify({
        device: query.device,
        readings: page.readings.map((r) => ({ seq: r.seq, ts: r.ts, data: r.data })),
        next: page.next,
      });
    } catch (err) {
      if (isFleethubError(err, 'FH_ERR_INVALID_ARGUMENT')) {
        this.#refuse(res, headers, new Refusal('history_bad_request', 'bad range, limit or cursor'));
        return;
      }
      this.#host.log.log('error', 'console.history_failed', { token: claims.id, device: query.device, reason: err instanceof Error ? err.message : String(err) });
      this.#refuse(res, headers, new Refusal('history_store_failed', 'the store cannot answer now'));
      return;
    }
    if (res.destroyed) return;
    res.writeHead(200, { ...headers, 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).end(body);
  }

  /** The token's claims; a missing, bad or expired one (or an IP refused too often) is a 401. */
  #authenticate(req: IncomingMessage, ip: string): TokenClaims {
    const header = req.headers.authorization;
    if (header === undefined) throw new Refusal('history_unauthorized', 'send the token as Authorization: Bearer <token>');
    if (this.#host.authBlocked(ip)) {
      this.#host.authRefused(ip, true);
      throw new Refusal('history_unauthorized', 'too many failed auth attempts; try later');
    }
    const match = /^Bearer ([A-Za-z0-9._-]{1,1024})$/.exec(header);
    try {
      return verifyToken(this.#host.keyFile.key(), match?.[1]);
    } catch (err) {
      this.#host.authRefused(ip, false);
      throw new Refusal('history_unauthorized', isFleethubError(err, 'FH_ERR_TOKEN_EXPIRED') ? 'token expired' : 'invalid token');
    }
  }

  #refuse(res: ServerResponse, headers: Record<string, string>, refusal: Refusal): void {
    const { status, metric } = DASHBOARD_REASONS[refusal.reason];
    this.#host.metrics.refused.inc({ reason: metric });
    if (res.destroyed) return;
    const extra: Record<string, string> =
      refusal.reason === 'history_unauthorized' ? { 'WWW-Authenticate': 'Bearer realm="fleethub"' }
        : refusal.reason === 'history_busy' ? { 'Retry-After': '1' }
          : {};
    res.writeHead(status, { ...headers, ...extra, 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    res.end(JSON.stringify({ error: metric.replace(/^history_/, ''), message: refusal.message }));
  }
}
