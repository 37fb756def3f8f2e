/**
 * Publishing one message to JetStream until it is acked, refused, or the
 * retry horizon passes.
 *
 * A publish that times out may still have been stored (the ack was lost,
 * or the stream leader died after a quorum had the message): it is sent
 * again with the same message id, never reported as stored on a guess, and
 * JetStream's duplicate window makes the second copy a `duplicate` ack
 * pointing at the first.
 */
import { errors, type MsgHdrs } from '@nats-io/transport-node';
import { JetStreamApiError, JetStreamApiCodes, type PubAck } from '@nats-io/jetstream';
import { Backoff } from '../../backoff.js';
import { FleethubError } from '../../errors.js';

/** What became of a publish. */
export type PublishResult =
  | { readonly kind: 'acked'; readonly ack: PubAck; readonly resent: boolean }
  /** JetStream refused it: the subject's last message is not the one expected (another writer, or a stale state). */
  | { readonly kind: 'conflict' };

/** One message and how to publish it. */
export interface PublishRequest {
  readonly subject: string;
  readonly payload: Uint8Array | string;
  readonly msgID: string;
  readonly headers: MsgHdrs;
}

/** Sends one publish and resolves with its ack (ack-inbox.ts); rejects like the NATS client's JetStream publish. */
export type Publish = (subject: string, payload: Uint8Array | string, msgID: string, headers: MsgHdrs) => Promise<PubAck>;

/** Limits of {@link publishUntilAcked}. */
export interface PublishLimits {
  /** How long one attempt waits for its ack (the publisher's own timeout for publishes; the request's for {@link requestUntilAnswered}). */
  readonly ackTimeoutMs: number;
  readonly retryMs: number;
  /** True once the store is closing for good: stop resending. */
  readonly stopped: () => boolean;
}

/** Backoff between attempts: quick first tries (a lost ack), capped at a second (an election takes seconds). */
const RETRY_INITIAL_MS = 100;
const RETRY_MAX_MS = 1_000;

/** True for an error after which the message may or may not be stored, so a resend is the only safe move. */
function retryable(err: unknown): boolean {
  if (err instanceof errors.ClosedConnectionError) return false;
  if (err instanceof JetStreamApiError) {
    // 4xx: a bad request (too large, bad headers) fails the same way again; 5xx: the stream is between leaders.
    return err.status >= 500 || err.status === 0;
  }
  return true; // timeouts, no responders, a dropped connection: the outcome is unknown
}

/**
 * Publishes until JetStream acks, resending with the same message id after a
 * timeout. Resolves `conflict` when JetStream refuses the expected last
 * subject sequence. Rejects with FH_ERR_STORE_IO on a refusal that a resend
 * cannot fix, when the store stops, or after `retryMs` without an ack.
 */
export async function publishUntilAcked(publish: Publish, request: PublishRequest, limits: PublishLimits): Promise<PublishResult> {
  const deadline = Date.now() + limits.retryMs;
  const backoff = new Backoff({ initialMs: RETRY_INITIAL_MS, maxMs: RETRY_MAX_MS });
  let resent = false;
  // Bounded by the deadline: each failed attempt waits for a timeout or a backoff delay.
  for (;;) {
    try {
      const ack = await publish(request.subject, request.payload, request.msgID, request.headers);
      return { kind: 'acked', ack, resent };
    } catch (err) {
      if (err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)) {
        return { kind: 'conflict' };
      }
      const delay = backoff.next();
      if (!retryable(err) || limits.stopped() || Date.now() + delay >= deadline) {
        const reason = err instanceof Error ? err.message : String(err);
        throw new FleethubError('FH_ERR_STORE_IO', `store: JetStream did not ack ${request.msgID}: ${reason}`, { cause: err });
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      resent = true;
    }
  }
}

/**
 * Runs a JetStream API request (a get, an info) until it answers, retrying
 * after timeouts and 5xx answers like {@link publishUntilAcked}. Rejects with
 * FH_ERR_STORE_IO naming `what` when it cannot.
 */
export async function requestUntilAnswered<T>(request: () => Promise<T>, limits: PublishLimits, what: string): Promise<T> {
  const deadline = Date.now() + limits.retryMs;
  const backoff = new Backoff({ initialMs: RETRY_INITIAL_MS, maxMs: RETRY_MAX_MS });
  // Bounded by the deadline, as above.
  for (;;) {
    try {
      return await request();
    } catch (err) {
      const delay = backoff.next();
      if (!retryable(err) || limits.stopped() || Date.now() + delay >= deadline) {
        const reason = err instanceof Error ? err.message : String(err);
        throw new FleethubError('FH_ERR_STORE_IO', `store: JetStream did not answer for ${what}: ${reason}`, { cause: err });
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
