/**
 * The JetStream store's group commit (src/store/jetstream/publish-window.ts),
 * with real timers: callers of one turn leave in one departure; a quiet
 * window departs at the end of the turn; a busy one gathers callers until
 * `intervalMs` after the last departure, never earlier; interval 0 departs
 * every turn.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { PublishWindow } from '../../src/store/jetstream/publish-window.js';

/**
 * Node's timers count whole milliseconds of a loop clock read at the start
 * of the turn, so a timer may fire up to about a millisecond before
 * `performance.now()` says its delay ran out.
 */
const TIMER_CLOCK_SLACK_MS = 2;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Calls `window.next()` `count` times in this turn; resolves with the departure count each caller saw when it resolved. */
function callers(window: PublishWindow, count: number): Promise<number[]> {
  return Promise.all(Array.from({ length: count }, () => window.next().then(() => window.departures)));
}

describe('PublishWindow', () => {
  it('resolves 100 callers of one turn together, in one departure, at the end of the turn', async () => {
    const window = new PublishWindow(50);
    const order: string[] = [];
    const all = callers(window, 100).then((seen) => {
      order.push('departed');
      return seen;
    });
    setImmediate(() => order.push('next turn'));
    assert.equal(window.departures, 0, 'nothing departs before the turn ends');
    assert.deepEqual(await all, Array.from({ length: 100 }, () => 1));
    await nextTurn();
    // The last departure is long ago: the first caller waits for no timer, only for the end of its turn.
    assert.deepEqual(order, ['departed', 'next turn']);
    assert.equal(window.departures, 1);
  });

  it('gathers callers of later turns into the next departure, intervalMs after the last one and not earlier', async () => {
    const intervalMs = 100;
    const window = new PublishWindow(intervalMs);
    await window.next();
    const departedAt = performance.now();
    assert.equal(window.departures, 1);
    const later: Array<Promise<number>> = [];
    for (let turn = 0; turn < 5; turn += 1) {
      later.push(window.next().then(() => performance.now()));
      await nextTurn();
    }
    const resolvedAt = await Promise.all(later);
    assert.equal(window.departures, 2, 'the five turns left in one departure');
    for (const at of resolvedAt) assert.ok(at - departedAt >= intervalMs - TIMER_CLOCK_SLACK_MS, `left ${(at - departedAt).toFixed(1)} ms after the last departure, before ${intervalMs} ms`);
  });

  it('with interval 0 departs once at the end of every turn', async () => {
    const window = new PublishWindow(0);
    for (let turn = 1; turn <= 3; turn += 1) {
      const order: string[] = [];
      const all = callers(window, 10).then((seen) => {
        order.push('departed');
        return seen;
      });
      setImmediate(() => order.push('next turn'));
      assert.deepEqual(await all, Array.from({ length: 10 }, () => turn));
      await nextTurn();
      assert.deepEqual(order, ['departed', 'next turn']);
    }
    assert.equal(window.departures, 3);
  });
});
