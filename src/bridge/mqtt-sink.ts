/**
 * The `mqtt` sink (SPEC: Sinks): publishes each reading as
 * `{"device","seq","ts","data"}` to the topic template, QoS 1 by default. A
 * batch counts as delivered only when the broker acknowledged every publish
 * (PUBACK for QoS 1, PUBCOMP for QoS 2), so the position never runs ahead of
 * the broker.
 */
import type { StoredReading } from '../store/types.js';
import { MqttPublisher, type MqttMessage } from './mqtt-publisher.js';
import type { MqttSinkConfig } from './sink-config.js';
import type { Sink } from './sink.js';

/** The JSON payload of one reading: the same shape dashboards receive (SPEC: Dashboard protocol). */
export function mqttPayload(reading: StoredReading): string {
  return JSON.stringify({ device: reading.device, seq: reading.seq, ts: reading.ts, data: reading.data });
}

/** The topic for one device: every `{device}` in the template replaced. */
export function mqttTopic(template: string, device: string): string {
  return template.replaceAll('{device}', device);
}

/** Publishes readings to an MQTT broker. */
export class MqttSink implements Sink {
  readonly name: string;
  readonly #config: MqttSinkConfig;
  readonly #publisher: MqttPublisher;

  constructor(config: MqttSinkConfig) {
    this.name = config.name;
    this.#config = config;
    this.#publisher = new MqttPublisher(config, config.name, config.path);
  }

  deliver(batch: readonly StoredReading[], signal: AbortSignal): Promise<void> {
    const { topic, qos, retain } = this.#config;
    const messages: MqttMessage[] = batch.map((reading) => ({
      topic: mqttTopic(topic, reading.device),
      payload: mqttPayload(reading),
      qos,
      retain,
    }));
    return this.#publisher.publishAll(messages, signal);
  }

  close(): Promise<void> {
    return this.#publisher.close();
  }
}
