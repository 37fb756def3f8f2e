/**
 * The device protocol's pure core (SPEC: Device protocol): parsing and
 * validating one text frame from a device, and building the hub's messages.
 * No I/O here; device-session.ts feeds it frames and sends what it builds.
 *
 * Decisions the SPEC leaves open, documented in docs/devices.md:
 * - Unknown keys (top level, inside a telemetry object or a batch frame) make
 *   the message `invalid_message`: a typo such as `"tS"` would otherwise be
 *   silently dropped and the reading stored with the wrong time.
 * - `ts` must be an integer between {@link MIN_TS} (2020-01-01T00:00:00Z) and
 *   receive time + {@link MAX_TS_SKEW_MS}. An ESP32 that has not synced its
 *   clock yet (SNTP) reports 1970: it should leave `ts` out, and the hub
 *   stamps the reading with its receive time.
 * - In a batch, each element is judged on its own: the valid ones are
 *   accepted and the bad ones nacked with their seq (or null), so one bad
 *   reading never costs a device its whole batch.
 */
import type { WireErrorCode } from '../errors.js';
import type { DeviceLimits } from './config.js';
import type { TelemetryData, TelemetryValue } from '../store/types.js';

/** Field names (SPEC: `[A-Za-z_][A-Za-z0-9_]{0,63}`). */
export const FIELD_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** Longest string value, in characters (SPEC), counted as Unicode code points. */
export const MAX_STRING_VALUE_LENGTH = 256;
/** Most telemetry messages in one `{"batch":[..]}` (SPEC). */
export const MAX_BATCH_SIZE = 100;
/** Earliest accepted `ts`: 2020-01-01T00:00:00Z. Earlier means an unsynced clock. */
export const MIN_TS = Date.UTC(2020, 0, 1);
/** How far in the future of the hub's clock a `ts` may lie: 10 minutes of clock skew. */
export const MAX_TS_SKEW_MS = 10 * 60 * 1000;

/** One valid telemetry message from a frame. */
export interface TelemetryMessage {
  readonly seq: number;
  /** The device's `ts`, or the receive time when it sent none. */
  readonly ts: number;
  readonly data: TelemetryData;
}

/** One message of a frame that failed validation; `seq` is what to nack. */
export interface InvalidMessage {
  readonly seq: number | null;
  readonly error: Extract<WireErrorCode, 'invalid_json' | 'invalid_message'>;
  /** Why, for logs (never sent to the device). */
  readonly reason: string;
}

/** A parsed frame: each message either valid or invalid, in frame order. */
export type FrameItem = { readonly ok: true; readonly message: TelemetryMessage } | ({ readonly ok: false } & InvalidMessage);

/** What {@link parseFrame} checks against. */
export interface ParseContext {
  /** Fields per reading (the device's `limits.maxFields`). */
  readonly maxFields: number;
  /** Receive time, ms since epoch: the default `ts` and the reference of the future bound. */
  readonly now: number;
}

function invalid(seq: number | null, reason: string): FrameItem {
  return { ok: false, seq, error: 'invalid_message', reason };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function validSeq(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

/**
 * Whether `text` has at most `max` characters, counted as Unicode code
 * points (SPEC: "at most 256 characters"): an emoji outside the BMP is one
 * character, though two UTF-16 units in `text.length`. A lone surrogate
 * (JSON can escape one) counts as one.
 */
export function withinCodePoints(text: string, max: number): boolean {
  // Code points never outnumber UTF-16 units, and at most halve them.
  if (text.length <= max) return true;
  if (text.length > 2 * max) return false;
  let count = 0;
  for (let i = 0; i < text.length; i += 1) {
    const unit = text.charCodeAt(i);
    // A high surrogate followed by a low one is one code point.
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i += 1;
    }
    count += 1;
    if (count > max) return false;
  }
  return true;
}

function validValue(value: unknown): value is TelemetryValue {
  if (typeof value === 'number') return Number.isFinite(value);
  if (typeof value === 'boolean') return true;
  return typeof value === 'string' && withinCodePoints(value, MAX_STRING_VALUE_LENGTH);
}

/** Validates one `{seq, ts?, data}` object (SPEC: Telemetry). */
export function parseTelemetry(value: unknown, context: ParseContext): FrameItem {
  if (!isPlainObject(value)) return invalid(null, 'not an object');
  const seq = validSeq(value.seq) ? value.seq : null;
  if (seq === null) return invalid(null, 'seq must be a safe integer >= 1');
  // for..in rather than Object.keys/entries: this runs for every message, and allocates nothing.
  for (const key in value) {
    if (key !== 'seq' && key !== 'ts' && key !== 'data') return invalid(seq, `unknown key ${key}`);
  }
  let ts = context.now;
  if (value.ts !== undefined) {
    const raw = value.ts;
    if (typeof raw !== 'number' || !Number.isSafeInteger(raw)) return invalid(seq, 'ts must be an integer');
    if (raw < MIN_TS || raw > context.now + MAX_TS_SKEW_MS) return invalid(seq, 'ts out of range');
    ts = raw;
  }
  const data = value.data;
  if (!isPlainObject(data)) return invalid(seq, 'data must be an object');
  let fields = 0;
  for (const name in data) {
    fields += 1;
    if (fields > context.maxFields) return invalid(seq, 'too many fields');
    if (!FIELD_NAME_PATTERN.test(name)) return invalid(seq, 'bad field name');
    if (!validValue(data[name])) return invalid(seq, `bad value for ${name}`);
  }
  if (fields === 0) return invalid(seq, 'data is empty');
  return { ok: true, message: { seq, ts, data: data as TelemetryData } };
}

/**
 * Parses one text frame: a telemetry object or `{"batch":[...]}`. Returns
 * one item per message; a frame that is not JSON, or not an object, is one
 * invalid item with seq null.
 */
export function parseFrame(text: string, context: ParseContext): FrameItem[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [{ ok: false, seq: null, error: 'invalid_json', reason: 'not JSON' }];
  }
  return parseFrameValue(value, context);
}

/**
 * {@link parseFrame} after `JSON.parse`: protocol 2 parses a frame once and
 * looks at its control messages (protocol-v2.ts) before telemetry.
 */
export function parseFrameValue(value: unknown, context: ParseContext): FrameItem[] {
  if (!isPlainObject(value)) return [{ ok: false, seq: null, error: 'invalid_json', reason: 'not a JSON object' }];
  if (!('batch' in value)) return [parseTelemetry(value, context)];
  const batch = value.batch;
  for (const key in value) if (key !== 'batch') return [invalid(null, 'batch frame with other keys')];
  if (!Array.isArray(batch) || batch.length === 0) return [invalid(null, 'batch must be a non-empty array')];
  if (batch.length > MAX_BATCH_SIZE) return [invalid(null, `batch over ${MAX_BATCH_SIZE}`)];
  return batch.map((item) => parseTelemetry(item, context));
}

/** The `limits` JSON of each plan's limits object, serialised once: every connection sends it. */
const limitsJson = new WeakMap<DeviceLimits, string>();

/** `{"hello":..}`, the hub's first message (SPEC: On connect). */
export function helloMessage(device: string, lastSeq: number | null, limits: DeviceLimits): string {
  let limitsText = limitsJson.get(limits);
  if (limitsText === undefined) {
    const { maxPayloadBytes, msgsPerSec, burst, msgsPerDay, maxFields } = limits;
    limitsText = JSON.stringify({ maxPayloadBytes, msgsPerSec, burst, msgsPerDay, maxFields });
    limitsJson.set(limits, limitsText);
  }
  return `{"hello":{"device":${JSON.stringify(device)},"lastSeq":${lastSeq ?? 'null'},"limits":${limitsText}}}`;
}

/** `{"ack":N}`: every message of this connection with seq ≤ N not nacked is durable (SPEC: Acks). */
export function ackMessage(seq: number): string {
  return `{"ack":${seq}}`;
}

/** `{"nack":seq|null,"error":code,"retryAfterMs"?:n}` (SPEC: Refusals). */
export function nackMessage(seq: number | null, error: WireErrorCode, retryAfterMs?: number): string {
  return JSON.stringify(retryAfterMs === undefined ? { nack: seq, error } : { nack: seq, error, retryAfterMs });
}
