/**
 * The device session asks the store to open the device before `hello`
 * (SPEC: hello.lastSeq; a cluster store loads the device's state then): it
 * waits for it, and a store that cannot open the device refuses it with
 * 1011. Real WebSockets on 127.0.0.1 and a real log store, behind a store
 * whose openDevice the test resolves by hand, as a cluster store's would.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { CLOSE } from '../../src/errors.js';
import { DEFAULT_LIMITS, DEFAULT_MAX_REFUSALS_PER_MINUTE, DEFAULT_MAX_UNREAD_REPLY_BYTES } from '../../src/hub/config.js';
import { DeviceSession, type SessionContext } from '../../src/hub/device-session.js';
import type { Store } from '../../src/store/types.js';
import { storePerTest } from '../store/store-fixtures.js';
import { waitUntil } from '../helpers/wait.js';

/** A store whose openDevice waits for the test; everything else is the real store's. */
interface Gate {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(err: Error): void;
}

function gatedStore(inner: Store): { store: Store; open: Gate; opened: string[]; released: string[] } {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const open: Gate = { promise, resolve, reject };
  const opened: string[] = [];
  const released: string[] = [];
  const store = Object.create(inner) as Store;
  Object.assign(store, {
    openDevice: (device: string) => {
      opened.push(device);
      return open.promise;
    },
    releaseDevice: (device: string) => void released.push(device),
    lastSeq: (device: string) => inner.lastSeq(device),
    health: () => inner.health(),
    append: (readings: Parameters<Store['append']>[0]) => inner.append(readings),
    countToday: (device: string, now?: number) => inner.countToday(device, now),
  });
  return { store, open, opened, released };
}

/** One session over a real WebSocket pair; the client's messages and close code. */
async function sessionPair(store: Store) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const context: SessionContext = {
    store,
    ownership: null,
    unavailableCode: CLOSE.INTERNAL_ERROR,
    maxInvalidInRow: 10,
    maxRefusedInRow: 10,
    maxRefusalsPerMinute: DEFAULT_MAX_REFUSALS_PER_MINUTE,
    maxUnreadReplyBytes: DEFAULT_MAX_UNREAD_REPLY_BYTES,
    now: Date.now,
    observer: { frame() {}, accepted() {}, nacked() {}, closed() {}, paused() {} },
  };
  const sessions: DeviceSession[] = [];
  wss.on('connection', (ws) => sessions.push(new DeviceSession(context, ws, 'dev-1', 'AB', DEFAULT_LIMITS)));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  const messages: Array<Record<string, unknown>> = [];
  client.on('message', (data) => messages.push(JSON.parse(String(data)) as Record<string, unknown>));
  const closed = new Promise<number>((resolve) => client.on('close', (code) => resolve(code)));
  await once(client, 'open');
  const stop = async (): Promise<void> => {
    client.terminate();
    await closed;
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  };
  return { client, messages, closed, stop };
}

describe('device session and Store.openDevice', () => {
  const fixture = storePerTest();

  it('sends hello only once the store opened the device; frames sent meanwhile are handled after it', async (t) => {
    const inner = await fixture.open();
    await inner.append([{ device: 'dev-1', seq: 4, ts: 1, data: { t: 1 } }]);
    const gated = gatedStore(inner);
    const pair = await sessionPair(gated.store);
    t.after(() => pair.stop());
    await waitUntil(() => gated.opened.length === 1, 'the store was asked to open the device', 10_000);
    pair.client.send(JSON.stringify({ seq: 5, data: { t: 2 } })); // a device that does not wait for hello
    await new Promise((r) => setTimeout(r, 50)); // room for a wrong hello or ack to arrive (none may)
    assert.deepEqual(pair.messages, [], 'no hello (and no ack) before the device is open');
    gated.open.resolve();
    await waitUntil(() => pair.messages.length >= 2, 'hello and the ack arrived', 10_000);
    // A v1 hello's limits: maxDownlinkBytes is a protocol 2 limit.
    const { maxDownlinkBytes: _v2Only, ...v1Limits } = DEFAULT_LIMITS;
    assert.deepEqual(pair.messages[0], { hello: { device: 'dev-1', lastSeq: 4, limits: v1Limits } });
    assert.deepEqual(pair.messages[1], { ack: 5 });
    pair.client.close();
    await pair.closed;
    await waitUntil(() => gated.released.length === 1, 'the store was told to release the device', 10_000);
  });

  it('closes with 1011 and no hello when the store cannot open the device', async (t) => {
    const gated = gatedStore(await fixture.open());
    const pair = await sessionPair(gated.store);
    t.after(() => pair.stop());
    gated.open.reject(new Error('cluster unreachable'));
    assert.equal(await pair.closed, 1011);
    assert.deepEqual(pair.messages, []);
  });
});
