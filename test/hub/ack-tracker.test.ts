import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AckTracker } from '../../src/hub/ack-tracker.js';

test('acks are cumulative and coalesced', () => {
  const acks = new AckTracker();
  for (const seq of [1, 2, 3]) acks.accepted(seq);
  assert.equal(acks.take(), null, 'nothing durable yet');
  for (const seq of [1, 2, 3]) acks.settled(seq, true);
  assert.equal(acks.take(), 3, 'one ack for three messages');
  assert.equal(acks.take(), null, 'each seq is acked once');
});

test('an ack never covers a seq still on its way to the store', () => {
  const acks = new AckTracker();
  acks.accepted(10);
  acks.accepted(5); // a resend of an older seq, after a newer one
  acks.accepted(12);
  acks.settled(10, true);
  acks.settled(12, true);
  assert.equal(acks.take(), null, '5 is pending: acking 12 would claim it is stored');
  acks.settled(5, true);
  assert.equal(acks.take(), 12);
});

test('a failed append is never covered by an ack of this connection', () => {
  const acks = new AckTracker();
  acks.accepted(1);
  acks.accepted(2);
  acks.settled(1, false);
  acks.settled(2, true);
  // SPEC: ack N claims every seq <= N not nacked is stored; 1 was not nacked and is not stored.
  assert.equal(acks.take(), null);
  assert.equal(acks.pending, 0);
});

test('the same seq twice in flight is pending until both settle', () => {
  const acks = new AckTracker();
  acks.accepted(7);
  acks.accepted(7);
  acks.accepted(8);
  acks.settled(7, true);
  acks.settled(8, true);
  assert.equal(acks.take(), null);
  acks.settled(7, true);
  assert.equal(acks.take(), 8);
});
