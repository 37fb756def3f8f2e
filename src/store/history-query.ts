/**
 * History queries (SPEC: History), the part every store shares: checking a
 * query, and the opaque cursor that carries a query from one page to the
 * next. Pure, no I/O.
 *
 * A cursor is the base64url JSON `[1, device, from, to, position]`: the
 * query's device and range, and the position of the last reading already
 * returned. Positions are unique and a device's readings are returned in
 * position order, so a page never repeats a reading nor skips one, however
 * many share a timestamp. A cursor is not secret and not signed: whoever
 * holds one could have asked the same query; the console checks that its
 * device is the one the request's token covers.
 */
import { FleethubError } from '../errors.js';
import type { HistoryQuery } from './types.js';

/** Most readings one history page holds, whatever the query asks (SPEC: at most 10000). */
export const MAX_HISTORY_READINGS = 10_000;

/** Longest cursor accepted, in characters (a real one is well under 200). */
export const MAX_HISTORY_CURSOR_LENGTH = 512;

const CURSOR_VERSION = 1;

/** What a cursor carries. */
export interface HistoryCursor {
  readonly device: string;
  readonly from: number;
  readonly to: number;
  /** Position of the last reading returned so far. */
  readonly after: number;
}

/** A query as a store runs it: checked, its cursor decoded (`after` is -1 on a first page). */
export interface CheckedHistoryQuery {
  readonly device: string;
  readonly from: number;
  readonly to: number;
  readonly limit: number;
  readonly after: number;
}

/** The cursor for the page after the reading at `position`. */
export function encodeHistoryCursor(cursor: HistoryCursor): string {
  return Buffer.from(JSON.stringify([CURSOR_VERSION, cursor.device, cursor.from, cursor.to, cursor.after])).toString('base64url');
}

/** The cursor `text` carries, or null when it is not one this module made. */
export function decodeHistoryCursor(text: unknown): HistoryCursor | null {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_HISTORY_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(text)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(raw) || raw.length !== 5 || raw[0] !== CURSOR_VERSION) return null;
  const [, device, from, to, after] = raw as unknown[];
  if (typeof device !== 'string' || !isTime(from) || !isTime(to) || from > to) return null;
  if (!Number.isSafeInteger(after) || (after as number) < 0) return null;
  return { device, from, to, after: after as number };
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function invalid(detail: string): FleethubError {
  return new FleethubError('FH_ERR_INVALID_ARGUMENT', `store: history ${detail}`);
}

/**
 * Checks a query and decodes its cursor. Throws FH_ERR_INVALID_ARGUMENT on
 * a device that is not a string of 1 to 255 characters, a bound that is not
 * a finite number, `from` after `to`, a limit outside 1 to
 * {@link MAX_HISTORY_READINGS}, or a cursor that is malformed or belongs to
 * another device or range.
 */
export function checkHistoryQuery(query: HistoryQuery): CheckedHistoryQuery {
  const { device, from, to, limit, cursor } = query;
  if (typeof device !== 'string' || device.length === 0 || device.length > 255) throw invalid('needs a device id');
  if (!isTime(from) || !isTime(to)) throw invalid(`range must be numbers (ms since epoch), got ${String(from)}, ${String(to)}`);
  if (from > to) throw invalid(`range must not end before it starts, got from ${from} to ${to}`);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_HISTORY_READINGS) {
    throw invalid(`limit must be an integer from 1 to ${MAX_HISTORY_READINGS}, got ${String(limit)}`);
  }
  if (cursor === undefined) return { device, from, to, limit, after: -1 };
  const decoded = decodeHistoryCursor(cursor);
  if (decoded === null) throw invalid('cursor is not one a history page gave');
  if (decoded.device !== device || decoded.from !== from || decoded.to !== to) throw invalid('cursor belongs to another device or range');
  return { device, from, to, limit, after: decoded.after };
}

/** The `next` of a page: a cursor after its last reading when more may follow, else null. */
export function nextCursor(query: CheckedHistoryQuery, lastPosition: number | undefined, more: boolean): string | null {
  if (!more || lastPosition === undefined) return null;
  return encodeHistoryCursor({ device: query.device, from: query.from, to: query.to, after: lastPosition });
}
