/**
 * The MQTT limits, crossed against a broker that accepts the connection and
 * then never acknowledges a publish (a raw TCP server speaking just enough
 * MQTT 3.1.1: CONNACK, nothing else): at most `maxInflight` publishes go out
 * unacknowledged, and the delivery fails after `ackTimeoutMs`.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { MqttSink } from '../../src/bridge/mqtt-sink.js';
import { mqttConfig } from './mqtt-subscriber.js';

/** Starts the silent broker; counts PUBLISH packets (MQTT 3.1.1 §2.2: type in the high nibble, then the remaining length). */
async function silentBroker(): Promise<{ port: number; publishes: () => number; close: () => Promise<void> }> {
  let publishes = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        let length = 0;
        let multiplier = 1;
        let i = 1;
        for (; i < buffer.length && i <= 4; i += 1) {
          const byte = buffer[i] ?? 0;
          length += (byte & 0x7f) * multiplier;
          multiplier *= 128;
          if ((byte & 0x80) === 0) break;
        }
        if (i >= buffer.length || buffer.length < i + 1 + length) return;
        const type = (buffer[0] ?? 0) >> 4;
        if (type === 1) socket.write(Buffer.from([0x20, 0x02, 0x00, 0x00]));
        if (type === 3) publishes += 1;
        if (type === 12) socket.write(Buffer.from([0xd0, 0x00]));
        buffer = buffer.subarray(i + 1 + length);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    publishes: () => publishes,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('mqtt sink limits', () => {
  it('keeps at most maxInflight publishes unacknowledged and fails after ackTimeoutMs', async () => {
    const broker = await silentBroker();
    const sink = new MqttSink(mqttConfig({ url: `mqtt://127.0.0.1:${broker.port}`, maxInflight: 5, ackTimeoutMs: 500 }));
    try {
      const batch = Array.from({ length: 20 }, (_, i) => ({ device: 'd', seq: i + 1, ts: i, position: i, data: { i } }));
      await assert.rejects(sink.deliver(batch, new AbortController().signal), /timed out after 500 ms/);
      assert.equal(broker.publishes(), 5);
    } finally {
      await sink.close();
      await broker.close();
    }
  });
});
