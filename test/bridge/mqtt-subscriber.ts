/** MQTT test helpers: a resolved sink config and a subscriber that records what it receives. */
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import type { MqttSinkConfig } from '../../src/bridge/mqtt-config.js';
import { resolveSinkConfigs } from '../../src/bridge/sink-config.js';
import type { Arrival } from './sink-contract.js';

/** A resolved mqtt sink config for a test. */
export function mqttConfig(fields: Record<string, unknown>): MqttSinkConfig {
  const [config] = resolveSinkConfigs([{ type: 'mqtt', name: 'test', connectTimeoutMs: 2_000, ackTimeoutMs: 5_000, ...fields }]);
  assert.ok(config !== undefined && config.type === 'mqtt');
  return config;
}

/** Received messages, kept by topic. */
export interface Subscriber {
  readonly messages: Array<{ topic: string; payload: string }>;
  close(): Promise<void>;
}

/**
 * A subscriber with a persistent session (clean: false, QoS 1), so that what
 * is published while it reconnects after a broker restart still reaches it.
 */
export async function subscribe(url: string, topic: string, options: mqtt.IClientOptions = {}): Promise<Subscriber> {
  const client: MqttClient = await mqtt.connectAsync(url, {
    clientId: `sub-${Math.random().toString(16).slice(2, 10)}`,
    clean: false,
    reconnectPeriod: 200,
    connectTimeout: 5_000,
    ...options,
  });
  client.on('error', () => undefined);
  const messages: Array<{ topic: string; payload: string }> = [];
  client.on('message', (t, payload) => messages.push({ topic: t, payload: payload.toString() }));
  await client.subscribeAsync(topic, { qos: 1 });
  return { messages, close: () => client.endAsync(true) };
}

/** Device and seq of each JSON payload received. */
export function arrivalsOf(subscriber: Subscriber, devicePrefix: string): Arrival[] {
  return subscriber.messages
    .map((m) => JSON.parse(m.payload) as Arrival)
    .filter((a) => a.device.startsWith(`${devicePrefix}-`));
}

