/**
 * History queries on the JetStream store (SPEC: History): one device's
 * readings by time, from its own subject only, through a short-lived ordered
 * consumer (ephemeral, one replica, in memory, deleted after the query, and
 * dropped by the server after `inactiveMs` if a hub dies mid-query). No
 * durable consumer is made per request.
 *
 * JetStream orders and dates messages by when they were stored, while a
 * query is about the readings' own `ts`. A reading is stored after it is
 * taken, so the consumer starts at the range's start minus `clockSkewMs`
 * (room for a device clock that runs ahead of the servers'), and a page
 * ends at its limit or at the end of the device's subject. A reading whose
 * device clock ran further ahead is not found.
 *
 * Work per request is bounded: at most `scanMessages` messages are looked
 * at; a page that stops there carries a `next` cursor after the last one
 * looked at, so the caller goes on where it stopped (such a page may hold
 * fewer readings than the limit, or none).
 */
import { DeliverPolicy, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import { FleethubError } from '../../errors.js';
import { nextCursor, type CheckedHistoryQuery } from '../history-query.js';
import type { HistoryPage, StoredReading } from '../types.js';
import { encodeToken, type NatsNames } from './nats-names.js';
import { decodeReading } from './reading-message.js';

/** How far a device's clock may run ahead of the NATS servers' and its readings still be found by time. @defaultValue 5 min */
export const DEFAULT_HISTORY_CLOCK_SKEW_MS = 5 * 60_000;
/** Messages one history request looks at, at most, before it answers with what it found and a `next` cursor. @defaultValue 50,000 */
export const DEFAULT_HISTORY_SCAN_MESSAGES = 50_000;
/** Messages fetched per pull while a query scans. */
export const HISTORY_FETCH_BATCH = 1_000;
/** The server drops a query's consumer after this long without use (a hub that died mid-query). */
export const HISTORY_CONSUMER_INACTIVE_MS = 30_000;

/** Options of history queries on the JetStream store. */
export interface JetStreamHistoryOptions {
  /** @defaultValue {@link DEFAULT_HISTORY_CLOCK_SKEW_MS} */
  readonly historyClockSkewMs?: number;
  /** @defaultValue {@link DEFAULT_HISTORY_SCAN_MESSAGES} */
  readonly historyScanMessages?: number;
}

/** Checks the options and fills in their defaults. Throws FH_ERR_CONFIG naming the key. */
export function resolveJetStreamHistoryOptions(options: JetStreamHistoryOptions): Required<JetStreamHistoryOptions> {
  const resolved = {
    historyClockSkewMs: options.historyClockSkewMs ?? DEFAULT_HISTORY_CLOCK_SKEW_MS,
    historyScanMessages: options.historyScanMessages ?? DEFAULT_HISTORY_SCAN_MESSAGES,
  };
  for (const [key, value, min] of [['historyClockSkewMs', resolved.historyClockSkewMs, 0], ['historyScanMessages', resolved.historyScanMessages, 1]] as const) {
    if (!Number.isSafeInteger(value) || value < min) {
      throw new FleethubError('FH_ERR_CONFIG', `config: jetstream store ${key} must be an integer >= ${min}, got ${value}`);
    }
  }
  return Object.freeze(resolved);
}

/** Latest time a JavaScript Date can hold, in ms since epoch. */
const MAX_DATE_MS = 8.64e15;

/** Answers history queries from the readings stream. */
export class JetStreamHistory {
  readonly #js: JetStreamClient;
  readonly #names: NatsNames;
  readonly #options: Required<JetStreamHistoryOptions>;
  readonly #fetchExpiresMs: number;

  constructor(js: JetStreamClient, names: NatsNames, options: Required<JetStreamHistoryOptions>, ackTimeoutMs: number) {
    this.#js = js;
    this.#names = names;
    this.#options = options;
    this.#fetchExpiresMs = Math.max(1_000, ackTimeoutMs);
  }

  /** One page of a checked query (see StoreReader.history). */
  async query(q: CheckedHistoryQuery): Promise<HistoryPage> {
    const subject = `${this.#names.readingsPrefix}${encodeToken(q.device)}`;
    const startMs = q.from - this.#options.historyClockSkewMs;
    const start =
      q.after >= 0
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: q.after + 2 } // stream seq = position + 1
        : startMs <= 0
          ? { deliver_policy: DeliverPolicy.All }
          : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(Math.min(startMs, MAX_DATE_MS)).toISOString() };
    const consumer = await this.#js.consumers.get(this.#names.stream, {
      filter_subjects: subject, inactive_threshold: HISTORY_CONSUMER_INACTIVE_MS, ...start,
    });
    try {
      let pending = (await consumer.info(true)).num_pending;
      const want = q.limit + 1; // one more than the page: whether a next page exists
      const out: StoredReading[] = [];
      let scanned = 0;
      let lastScanned: number | undefined;
      // Bounded by the scan budget and by what was pending when the consumer was made.
      while (pending > 0 && scanned < this.#options.historyScanMessages && out.length < want) {
        const batch = Math.min(pending, this.#options.historyScanMessages - scanned, HISTORY_FETCH_BATCH);
        const messages = await consumer.fetch({ max_messages: batch, expires: this.#fetchExpiresMs });
        let got = 0;
        for await (const msg of messages) {
          got += 1;
          scanned += 1;
          pending = msg.info.pending;
          const reading = readingOf(msg, this.#names.readingsPrefix);
          lastScanned = reading.position;
          if (reading.ts >= q.from && reading.ts < q.to) out.push(reading);
          if (out.length >= want || got >= batch) break;
        }
        await messages.close();
        if (got === 0) break; // retention removed what was pending
      }
      const more = out.length > q.limit;
      if (more) {
        out.length = q.limit;
        return { readings: out, next: nextCursor(q, out[out.length - 1]?.position, true) };
      }
      // Stopped by the scan budget, not by the end of the subject: go on from the last message looked at.
      const stoppedEarly = pending > 0 && scanned >= this.#options.historyScanMessages;
      return { readings: out, next: nextCursor(q, lastScanned, stoppedEarly) };
    } finally {
      await consumer.delete().catch(() => false);
    }
  }
}

function readingOf(msg: JsMsg, readingsPrefix: string): StoredReading {
  if (msg.headers === undefined) throw new FleethubError('FH_ERR_STORE_IO', `store: message ${msg.seq} is not a reading`);
  return decodeReading({ subject: msg.subject, seq: msg.seq, header: msg.headers, data: msg.data }, readingsPrefix);
}
