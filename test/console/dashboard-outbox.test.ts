/** The bounded outbox of one dashboard: holds back past the byte bound, drops past the message bound, reports the gap in place. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DashboardOutbox } from '../../src/hub/console/dashboard-outbox.js';

function outbox(maxMessages: number, maxBytes: number) {
  const sent: string[] = [];
  let buffered = 0;
  let drops = 0;
  const box = new DashboardOutbox({
    maxMessages,
    maxBytes,
    send: (t) => {
      sent.push(t);
      buffered += t.length;
    },
    bufferedAmount: () => buffered,
    onDrop: (n) => (drops += n),
  });
  return { box, sent, drain: () => (buffered = 0), drops: () => drops };
}

describe('DashboardOutbox', () => {
  it('sends at once while the socket has room', () => {
    const o = outbox(2, 100);
    o.box.push('a');
    assert.equal(o.box.flush(), true);
    assert.deepEqual(o.sent, ['a']);
  });

  it('queues up to maxMessages, then drops and reports {"dropped":N} after the queued ones', () => {
    const o = outbox(2, 3);
    for (const t of ['aaa', 'b', 'c', 'd', 'e', 'f']) {
      o.box.push(t);
      o.box.flush();
    }
    assert.deepEqual(o.sent, ['aaa']); // the socket is full from here on
    assert.equal(o.drops(), 3);
    o.drain();
    o.box.flush(); // one more fits
    o.drain();
    o.box.flush();
    o.drain();
    o.box.push('g');
    o.box.flush();
    o.drain();
    o.box.flush();
    assert.deepEqual(o.sent, ['aaa', 'b', 'c', '{"dropped":3}', 'g']);
  });

  it('lets a forced snapshot past the message bound', () => {
    const o = outbox(1, 0);
    for (const t of ['a', 'b', 'c']) o.box.push(t, true);
    assert.equal(o.box.length, 3);
    assert.equal(o.drops(), 0);
  });
});
