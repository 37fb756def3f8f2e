/**
 * The JetStream store's publisher (src/store/jetstream/ack-inbox.ts) against
 * a real nats-server: every way a publish can end, as the NATS client's own
 * JetStream publish reports it, with the acks on one subscription.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, errors, headers, type NatsConnection } from '@nats-io/transport-node';
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { AckInbox } from '../../src/store/jetstream/ack-inbox.js';
import { startNatsCluster, type NatsCluster } from '../helpers/nats-cluster.js';

describe('AckInbox (JetStream publishes with one reply subscription)', () => {
  let cluster: NatsCluster;
  let nc: NatsConnection;

  before(async () => {
    cluster = await startNatsCluster({ nodes: 1 });
    nc = await connect({ servers: [...cluster.urls] });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'INBOXTEST', subjects: ['inbox.test.>'], storage: StorageType.Memory, duplicate_window: 60_000_000_000 });
  });
  after(async () => {
    await nc?.close();
    await cluster?.stop();
  });

  it('resolves each publish with its own ack, many in flight at once, and a repeated message id as a duplicate', async () => {
    const inbox = new AckInbox(nc, 5_000);
    const acks = await Promise.all(Array.from({ length: 200 }, (_, i) => inbox.publish(`inbox.test.d${i % 7}`, `{"i":${i}}`, `m${i}`, headers())));
    assert.deepEqual(acks.map((a) => a.stream), Array(200).fill('INBOXTEST'));
    assert.equal(new Set(acks.map((a) => a.seq)).size, 200, 'every publish has its own stream sequence');
    assert.ok(acks.every((a) => !a.duplicate));
    const again = await inbox.publish('inbox.test.d3', '{"i":3}', 'm3', headers());
    assert.equal(again.duplicate, true);
    assert.equal(again.seq, acks[3]?.seq, 'the duplicate points at the first copy');
    assert.equal(inbox.pending, 0);
    inbox.close();
  });

  it('rejects with the JetStream API error when the stream refuses (wrong last subject sequence)', async () => {
    const inbox = new AckInbox(nc, 5_000);
    const h = headers();
    h.set('Nats-Expected-Last-Subject-Sequence', '999999');
    await assert.rejects(inbox.publish('inbox.test.cas', '{}', 'cas1', h), (err: unknown) =>
      err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence && err.status === 400);
    inbox.close();
  });

  it('rejects with no responders when no stream takes the subject', async () => {
    const inbox = new AckInbox(nc, 5_000);
    await assert.rejects(inbox.publish('nowhere.at.all', '{}', 'x1', headers()), (err: unknown) => err instanceof errors.NoRespondersError);
    inbox.close();
  });

  it('times out a publish nobody answers, in order, without losing the ones answered', async () => {
    // A plain subscriber takes the subject and never replies: the publish has a responder but no ack.
    const silent = nc.subscribe('silent.subject');
    const inbox = new AckInbox(nc, 300);
    const lost = inbox.publish('silent.subject', '{}', 's1', headers());
    const acked = inbox.publish('inbox.test.t', '{}', 't1', headers());
    assert.equal((await acked).stream, 'INBOXTEST');
    await assert.rejects(lost, (err: unknown) => err instanceof errors.TimeoutError);
    assert.equal(inbox.pending, 0);
    silent.unsubscribe();
    inbox.close();
  });

  it('rejects what is waiting, and what comes after, with a closed-connection error once closed', async () => {
    const own = await connect({ servers: [...cluster.urls] });
    own.subscribe('silent.two');
    const inbox = new AckInbox(own, 30_000);
    const waiting = inbox.publish('silent.two', '{}', 'c1', headers());
    await own.flush();
    await own.close();
    await assert.rejects(waiting, (err: unknown) => err instanceof errors.ClosedConnectionError);
    await assert.rejects(inbox.publish('inbox.test.c', '{}', 'c2', headers()), (err: unknown) => err instanceof errors.ClosedConnectionError);
  });
});
