/**
 * The dashboard wire format (SPEC: Dashboard protocol), pure: parsing what a
 * dashboard sends, and encoding what the hub sends. Text frames, one JSON
 * object each.
 *
 * Dashboard → hub: `{"auth":token}` (first, once), `{"subscribe":glob}`,
 * `{"unsubscribe":glob}`, and with the token's scopes `{"command":..}` and
 * `{"config":..}` (control-requests.ts).
 *
 * Hub → dashboard: `{"authed":{"devices","expiresAt","scopes","commands"?}}`, `{"subscribed":glob}`,
 * `{"unsubscribed":glob}`, readings `{"device","seq","ts","data"}`,
 * `{"presence":{"device","online"}}`, `{"rejected":{"device","code","count","codes","at"}}`
 * (device messages the hub refused, summarised: the dashboard's "limit breaches"),
 * `{"dropped":N}`, and `{"error":code}` with the codes of {@link DashboardErrorCode}.
 */
import type { RejectedEvent } from '../live-feed.js';
import type { StoredReading } from '../../store/types.js';
import { isValidGlob } from './device-glob.js';
import { parseControlRequest, type ControlRequest } from './control-requests.js';

/** A well-formed message from a dashboard. */
export type DashboardRequest =
  | { readonly type: 'auth'; readonly token: string }
  | { readonly type: 'subscribe'; readonly glob: string }
  | { readonly type: 'unsubscribe'; readonly glob: string }
  | ControlRequest;

/** `error` values the hub sends a dashboard. */
export type DashboardErrorCode =
  | 'invalid_json'
  | 'invalid_message'
  | 'forbidden'
  | 'rate_limited'
  | 'too_many_subscriptions'
  | 'invalid_config'
  | 'too_large'
  | 'unavailable'
  | 'invalid_glob'
  | 'too_many_globs';

/** What {@link parseDashboardMessage} found. */
export type ParsedDashboardMessage = DashboardRequest | { readonly type: 'invalid'; readonly error: 'invalid_json' | 'invalid_message' };

/**
 * Parses one text frame. A frame must be a JSON object with exactly one of
 * the keys `auth`, `subscribe`, `unsubscribe`; globs must be valid device
 * globs (device-glob.ts).
 */
export function parseDashboardMessage(text: string): ParsedDashboardMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { type: 'invalid', error: 'invalid_json' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { type: 'invalid', error: 'invalid_json' };
  const keys = Object.keys(value);
  if (keys.length !== 1) return { type: 'invalid', error: 'invalid_message' };
  const record = value as Record<string, unknown>;
  if ('auth' in record) {
    return typeof record.auth === 'string' ? { type: 'auth', token: record.auth } : { type: 'invalid', error: 'invalid_message' };
  }
  if ('subscribe' in record) {
    return isValidGlob(record.subscribe) ? { type: 'subscribe', glob: record.subscribe } : { type: 'invalid', error: 'invalid_message' };
  }
  if ('unsubscribe' in record) {
    return isValidGlob(record.unsubscribe) ? { type: 'unsubscribe', glob: record.unsubscribe } : { type: 'invalid', error: 'invalid_message' };
  }
  if ('command' in record || 'config' in record) {
    const key = 'command' in record ? 'command' : 'config';
    return parseControlRequest(key, record[key]) ?? { type: 'invalid', error: 'invalid_message' };
  }
  return { type: 'invalid', error: 'invalid_message' };
}

/** `{"device","seq","ts","data"}`: a newly stored reading (SPEC). The store position stays internal. */
export function encodeReading(reading: StoredReading): string {
  return JSON.stringify({ device: reading.device, seq: reading.seq, ts: reading.ts, data: reading.data });
}

/** `{"presence":{"device","online"}}` (SPEC). */
export function encodePresence(device: string, online: boolean): string {
  return JSON.stringify({ presence: { device, online } });
}

/**
 * `{"rejected":{"device","code","count","codes","at"}}`: `count` refused
 * device messages (invalid, rate limited, over quota...) since the previous
 * event of that device, `codes` by nack code, `code` the most frequent.
 */
export function encodeRejected(event: RejectedEvent): string {
  return JSON.stringify({ rejected: { device: event.device, code: event.code, count: event.count, codes: event.codes, at: event.at } });
}

/**
 * `{"authed":{"devices","expiresAt","scopes"}}` (SPEC, and the token's scopes
 * so a page shows only what it may use); with `commands` (the allow-listed
 * names) for a token with the `command` scope, so a page offers only those.
 */
export function encodeAuthed(devices: string, expiresAt: number, scopes: readonly string[], commands?: readonly string[]): string {
  return JSON.stringify({ authed: commands === undefined ? { devices, expiresAt, scopes } : { devices, expiresAt, scopes, commands } });
}

/** `{"error":code}`. */
export function encodeError(code: DashboardErrorCode): string {
  return JSON.stringify({ error: code });
}
