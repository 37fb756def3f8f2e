/**
 * One reading as one JetStream message, and back.
 *
 * The body is the reading's data as JSON (the device's own text when the hub
 * has it). Headers carry the device's seq and ts, and the device's state
 * right after this reading (`Fleethub-State`: its seq window, and its count
 * for the hub's UTC day). The store publishes one reading of a device at a
 * time, each expecting the device's previous message to be the last on its
 * subject, so the device's last message always carries its whole state:
 * whichever hub owns the device next reads that one message (a get of the
 * last message by subject) and knows lastSeq, the dedupe window, the daily
 * count and the latest reading, with no second write to keep in step.
 * Pure, no I/O beyond building header objects.
 */
import { headers, type MsgHdrs } from '@nats-io/transport-node';
import { DeviceState, utcDay } from '../device-state.js';
import { SeqWindow, type SeqWindowJson } from '../seq-window.js';
import type { StoredReading, TelemetryData } from '../types.js';
import { decodeToken, encodeToken } from './nats-names.js';

/** The device's seq of the reading. */
export const SEQ_HEADER = 'Fleethub-Seq';
/** The reading's ts (ms since epoch). */
export const TS_HEADER = 'Fleethub-Ts';
/** The device's state right after this reading ({@link DeviceStateHeader} as JSON). */
export const STATE_HEADER = 'Fleethub-State';
/** JetStream's optimistic concurrency per subject (nats-server: Nats-Expected-Last-Subject-Sequence). */
const EXPECTED_LAST_SUBJECT_SEQ_HEADER = 'Nats-Expected-Last-Subject-Sequence';

/** The state a reading's message carries. */
export interface DeviceStateHeader {
  /** The seq window with this reading. */
  readonly w: SeqWindowJson;
  /** The hub's UTC day (of {@link c}). */
  readonly d: number;
  /** Readings stored on day {@link d}, this one included. */
  readonly c: number;
}

/** The message id of a reading: one per (device, seq), so a publish retried after a timeout is stored once. */
export function readingMsgId(device: string, seq: number): string {
  return `${encodeToken(device)}:${seq}`;
}

/** The device's state once `seq` is stored at `hubTime` (`state` itself is not changed). Mirrors {@link DeviceState.applySeq}. */
export function stateAfter(state: DeviceState | null, seq: number, hubTime: number): DeviceStateHeader {
  const window = state === null ? new SeqWindow() : SeqWindow.fromJSON(state.window.toJSON());
  window.add(seq);
  const day = utcDay(hubTime);
  if (state === null || day > state.day) return { w: window.toJSON(), d: day, c: 1 };
  if (day === state.day) return { w: window.toJSON(), d: day, c: state.dayCount + 1 };
  return { w: window.toJSON(), d: state.day, c: state.dayCount }; // the hub's clock went back: keep the newer day
}

/**
 * The headers of a reading's message. `expectedLastSubjectSeq` is the stream
 * sequence of the device's previous message (0: none): JetStream refuses the
 * message when another writer got there first.
 */
export function readingHeaders(seq: number, ts: number, state: DeviceStateHeader, expectedLastSubjectSeq: number): MsgHdrs {
  const h = headers();
  h.set(SEQ_HEADER, String(seq));
  h.set(TS_HEADER, String(ts));
  h.set(STATE_HEADER, JSON.stringify(state));
  h.set(EXPECTED_LAST_SUBJECT_SEQ_HEADER, String(expectedLastSubjectSeq));
  return h;
}

/** A message as the stream returns it (a stored message). */
export interface ReadingMessage {
  readonly subject: string;
  /** The stream sequence: position + 1. */
  readonly seq: number;
  readonly header: MsgHdrs;
  readonly data: Uint8Array;
}

function headerNumber(msg: ReadingMessage, name: string): number {
  const text = msg.header.get(name);
  const value = Number(text);
  if (text === '' || !Number.isFinite(value)) throw new Error(`message ${msg.seq} has no valid ${name} header`);
  return value;
}

/** The device a message's subject names; throws on a subject outside `readingsPrefix`. */
export function deviceOfSubject(subject: string, readingsPrefix: string): string {
  if (!subject.startsWith(readingsPrefix)) throw new Error(`subject ${subject} is not a reading's`);
  return decodeToken(subject.slice(readingsPrefix.length));
}

/** The reading a message holds; throws on a message the store did not write. */
export function decodeReading(msg: ReadingMessage, readingsPrefix: string): StoredReading {
  const device = deviceOfSubject(msg.subject, readingsPrefix);
  const data = JSON.parse(Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength).toString('utf8')) as TelemetryData;
  if (typeof data !== 'object' || data === null) throw new Error(`message ${msg.seq} holds no data object`);
  return { device, seq: headerNumber(msg, SEQ_HEADER), ts: headerNumber(msg, TS_HEADER), data, position: msg.seq - 1 };
}

/** The device state carried by the device's last message; throws on a malformed one. */
export function decodeDeviceState(msg: ReadingMessage): DeviceState {
  const json = JSON.parse(msg.header.get(STATE_HEADER)) as DeviceStateHeader;
  if (typeof json !== 'object' || json === null || typeof json.w !== 'object' || json.w === null) throw new Error(`message ${msg.seq} has no device state`);
  if (!Number.isSafeInteger(json.d) || !Number.isSafeInteger(json.c)) throw new Error(`message ${msg.seq} has a bad day count`);
  const state = new DeviceState(SeqWindow.fromJSON(json.w));
  state.day = json.d;
  state.dayCount = json.c;
  const body = Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength).toString('utf8');
  state.setLatest(msg.seq - 1, headerNumber(msg, SEQ_HEADER), headerNumber(msg, TS_HEADER), body);
  return state;
}
