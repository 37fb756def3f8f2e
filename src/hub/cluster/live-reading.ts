/**
 * A committed reading as one core NATS message on the cluster's live
 * subject, and back (cluster-feed.ts).
 *
 * The hub that stored a reading publishes it on `<prefix>.live.<device
 * token>` once JetStream acked it, with the same body and `Fleethub-Seq`,
 * `Fleethub-Ts` headers as the reading's stream message plus its stream
 * sequence, so the stream's own decoder (reading-message.ts) reads both.
 * Pure, no I/O beyond building header objects.
 */
import { headers, type MsgHdrs } from '@nats-io/transport-node';
import { DEFAULT_NATS_PREFIX, encodeToken, natsNames } from '../../store/jetstream/nats-names.js';
import { decodeReading, SEQ_HEADER, TS_HEADER } from '../../store/jetstream/reading-message.js';
import type { StoredReading } from '../../store/types.js';

/** The reading's stream sequence (its position + 1), as the stream's own messages carry it in `Nats-Sequence`. */
export const STREAM_SEQ_HEADER = 'Fleethub-Stream-Seq';

/** Subject names of the live feed under one prefix. */
export interface LiveSubjects {
  /** `<prefix>.live.`: a reading of device D goes out on this plus D's token. */
  readonly prefix: string;
  /** `<prefix>.live.>`: what each hub subscribes to. */
  readonly filter: string;
}

/** The live subjects under `prefix`; throws on a prefix NATS cannot carry. */
export function liveSubjects(prefix: string = DEFAULT_NATS_PREFIX): LiveSubjects {
  natsNames(prefix); // validates the prefix
  return Object.freeze({ prefix: `${prefix}.live.`, filter: `${prefix}.live.>` });
}

/** One message to publish. */
export interface LiveMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: MsgHdrs;
}

const encoder = new TextEncoder();

/** The message announcing `reading` (stored at its position). */
export function encodeLiveReading(reading: StoredReading, subjects: LiveSubjects): LiveMessage {
  const h = headers();
  h.set(SEQ_HEADER, String(reading.seq));
  h.set(TS_HEADER, String(reading.ts));
  h.set(STREAM_SEQ_HEADER, String(reading.position + 1));
  return { subject: subjects.prefix + encodeToken(reading.device), data: encoder.encode(reading.dataJson ?? JSON.stringify(reading.data)), headers: h };
}

/** A received live message, as NATS hands it over. */
export interface ReceivedLiveMessage {
  readonly subject: string;
  readonly headers?: MsgHdrs;
  readonly data: Uint8Array;
}

/** The reading a live message announces; throws on a message no hub wrote (bad subject, headers or body). */
export function decodeLiveReading(msg: ReceivedLiveMessage, subjects: LiveSubjects): StoredReading {
  const header = msg.headers;
  if (header === undefined) throw new Error(`live message on ${msg.subject} has no headers`);
  const streamSeq = Number(header.get(STREAM_SEQ_HEADER));
  if (!Number.isSafeInteger(streamSeq) || streamSeq < 1) throw new Error(`live message on ${msg.subject} has no valid ${STREAM_SEQ_HEADER}`);
  return decodeReading({ subject: msg.subject, seq: streamSeq, header, data: msg.data }, subjects.prefix);
}
