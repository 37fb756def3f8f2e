import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Outbox } from '../../firmware-sim/outbox.js';

const frame = (seq: number): string => `{"seq":${seq}}`;

function filled(capacity: number, n: number): Outbox<number> {
  const box = new Outbox<number>({ capacity });
  box.beginConnection(null);
  for (let i = 1; i <= n; i++) box.push(i, frame);
  return box;
}

test('seqs start at 1 and go up by one', () => {
  const box = filled(10, 3);
  assert.deepEqual([box.takeNext(0)?.seq, box.takeNext(0)?.seq, box.takeNext(0)?.seq, box.takeNext(0)], [1, 2, 3, undefined]);
  assert.equal(box.nextSeq, 4);
});

test('a cumulative ack removes every sent entry up to N and reports latency', () => {
  const box = filled(10, 5);
  for (let i = 0; i < 4; i++) box.takeNext(100);
  const latencies: number[] = [];
  assert.equal(box.ack(3, 150, (_e, ms) => latencies.push(ms)), 3);
  assert.deepEqual(latencies, [50, 50, 50]);
  assert.equal(box.size, 2);
  // Seq 5 was never sent on this connection: an ack past it removes only seq 4.
  assert.equal(box.ack(9, 160), 1);
  assert.equal(box.size, 1);
  assert.equal(box.unsent, 1);
});

test('a nacked entry is removed and not covered by a later ack', () => {
  const box = filled(10, 3);
  for (let i = 0; i < 3; i++) box.takeNext(0);
  const nacked = box.nack(2);
  assert.equal(nacked?.seq, 2);
  assert.equal(nacked?.data, 2);
  assert.equal(box.ack(3, 1), 2);
  assert.equal(box.size, 0);
  assert.equal(box.nack(2), undefined, 'unknown seq');
});

test('full: the oldest is dropped and counted, sent ones also as lost', () => {
  const box = filled(3, 3);
  box.takeNext(0); // seq 1 sent
  box.push(4, frame); // drops seq 1 (sent)
  box.push(5, frame); // drops seq 2 (never sent)
  assert.equal(box.size, 3);
  assert.equal(box.dropped, 2);
  assert.equal(box.droppedSent, 1);
  assert.deepEqual([box.takeNext(0)?.seq, box.takeNext(0)?.seq, box.takeNext(0)?.seq], [3, 4, 5]);
});

test('after a reconnect every unacked entry is due again, marked as a resend', () => {
  const box = filled(10, 3);
  box.takeNext(0);
  box.takeNext(0);
  box.ack(1, 0);
  box.beginConnection(2);
  assert.equal(box.unsent, 2);
  const again = box.takeNext(5);
  assert.equal(again?.seq, 2);
  assert.equal(again?.sends, 2);
  assert.equal(box.takeNext(5)?.sends, 1);
  // An ack from the old connection's numbering still applies to this connection's sends.
  assert.equal(box.ack(3, 6), 2);
  assert.equal(box.sentUnacked, 0);
});

test('a device that lost its counter resumes from hello.lastSeq + 1', () => {
  const box = new Outbox<number>({});
  box.beginConnection(41);
  box.push(1, frame);
  assert.equal(box.takeNext(0)?.seq, 42);
  // A later hello behind our counter does not move it back.
  box.beginConnection(10);
  assert.equal(box.nextSeq, 43);
  const off = new Outbox<number>({ resumeFromHello: false });
  off.beginConnection(41);
  assert.equal(off.nextSeq, 1);
});

test('memory stays bounded over many pushes and acks', () => {
  const box = new Outbox<number>({ capacity: 8 });
  box.beginConnection(null);
  for (let i = 0; i < 10_000; i++) {
    box.push(i, frame);
    const e = box.takeNext(i);
    if (e) box.ack(e.seq, i);
  }
  assert.equal(box.size, 0);
  assert.equal(box.dropped, 0);
  assert.equal(box.nextSeq, 10_001);
});

test('capacity must be a positive integer', () => {
  assert.throws(() => new Outbox({ capacity: 0 }), RangeError);
});
