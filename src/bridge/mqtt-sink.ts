/**
 * The `mqtt` sink (SPEC: Sinks): publishes each reading as
 * `{"device","seq","ts","data"}` to the topic template, QoS 1 by default. A
 * batch counts as delivered only when the broker acknowledged every publish
 * (PUBACK for QoS 1, PUBCOMP for QoS 2), so the position never runs ahead of
 * the broker. A reading whose topic would not be a valid MQTT topic name is
 * refused before anything is sent ({@link SinkRefusedError}): a broker
 * closes the connection on such a publish, which would look like an outage
 * and be retried forever.
 */
import type { StoredReading } from '../store/types.js';
import { MqttPublisher, type MqttMessage } from './mqtt-publisher.js';
import type { MqttSinkConfig } from './mqtt-config.js';
import { SinkRefusedError, type Sink } from './sink.js';

/** The JSON payload of one reading: the same shape dashboards receive (SPEC: Dashboard protocol). */
export function mqttPayload(reading: StoredReading): string {
  return JSON.stringify({ device: reading.device, seq: reading.seq, ts: reading.ts, data: reading.data });
}

/** The topic for one device: every `{device}` in the template replaced. */
export function mqttTopic(template: string, device: string): string {
  return template.replaceAll('{device}', device);
}

/** MQTT 3.1.1 §4.7.1, §4.7.3, §1.5.3: a topic name has no wildcard, no U+0000, and 1 to 65,535 bytes of UTF-8. */
export function isValidTopicName(topic: string): boolean {
  return topic.length > 0 && !/[#+\u0000]|\p{Cs}/u.test(topic) && Buffer.byteLength(topic) <= 65_535;
}

/** Publishes readings to an MQTT broker. */
export class MqttSink implements Sink {
  readonly name: string;
  readonly type = 'mqtt';
  readonly #config: MqttSinkConfig;
  readonly #publisher: MqttPublisher;

  constructor(config: MqttSinkConfig) {
    this.name = config.name;
    this.#config = config;
    this.#publisher = new MqttPublisher(config, config.name, config.path);
  }

  deliver(batch: readonly StoredReading[], signal: AbortSignal): Promise<void> {
    const { topic, qos, retain } = this.#config;
    const messages: MqttMessage[] = [];
    for (const reading of batch) {
      const name = mqttTopic(topic, reading.device);
      if (!isValidTopicName(name)) {
        return Promise.reject(new SinkRefusedError(`reading ${reading.device}/${reading.seq} has no valid MQTT topic: ${JSON.stringify(name.slice(0, 100))}`));
      }
      messages.push({ topic: name, payload: mqttPayload(reading), qos, retain });
    }
    return this.#publisher.publishAll(messages, signal);
  }

  close(): Promise<void> {
    return this.#publisher.close();
  }
}
