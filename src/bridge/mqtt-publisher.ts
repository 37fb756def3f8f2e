/**
 * One MQTT connection that publishes batches and reports when the broker has
 * acknowledged every message: PUBACK for QoS 1, PUBCOMP for QoS 2 (MQTT 3.1.1
 * §4.3), written to the socket for QoS 0. Shared by the `mqtt` sink and
 * ThingSpeak's MQTT transport.
 *
 * MQTT.js would buffer publishes while offline and resend them after its own
 * reconnect, without bound. Here the runner owns retries instead: a
 * connection is opened when a batch needs it, and any failure (connect
 * timeout, lost connection, missing acks) destroys the client with whatever
 * it still held, so memory stays bounded by one batch and the runner's
 * backoff paces the reconnects.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { IClientOptions, MqttClient } from 'mqtt';
import { FleethubError } from '../errors.js';
import type { MqttConnectionConfig } from './mqtt-config.js';
import { abortError } from './sink.js';

/** One message to publish. */
export interface MqttMessage {
  readonly topic: string;
  readonly payload: string;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
}

/** Reads the TLS files named in the config; a missing file is a config error naming the key. */
export function readTlsFiles(config: Pick<MqttConnectionConfig, 'ca' | 'cert' | 'key'>, path: string): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  const files: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  for (const key of ['ca', 'cert', 'key'] as const) {
    const file = config[key];
    if (file === null) continue;
    try {
      files[key] = readFileSync(file);
    } catch (err: unknown) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new FleethubError('FH_ERR_CONFIG', `config: ${path}.${key} must be a readable file, got ${JSON.stringify(file)} (${code})`, { cause: err });
    }
  }
  return files;
}

/** Publishes batches over one (re)opened MQTT connection. */
export class MqttPublisher {
  readonly #config: MqttConnectionConfig;
  readonly #options: IClientOptions;
  #client: MqttClient | null = null;
  #closed = false;

  /** `label` names the sink in the client id; TLS files are read here, once. */
  constructor(config: MqttConnectionConfig, label: string, path: string) {
    this.#config = config;
    this.#options = {
      ...readTlsFiles(config, path),
      // MQTT 3.1.1 §3.1.3.1: servers may cap client ids at 23 characters; the random part comes first so it survives.
      clientId: config.clientId ?? `fh-${randomBytes(5).toString('hex')}-${label}`.slice(0, 23),
      username: config.username ?? undefined,
      password: config.password ?? undefined,
      keepalive: config.keepaliveSec,
      connectTimeout: config.connectTimeoutMs,
      clean: true,
      // The runner reconnects, with backoff and jitter; a second, fixed-period loop here would fight it.
      reconnectPeriod: 0,
      queueQoSZero: false,
      resubscribe: false,
    };
  }

  /**
   * Publishes the messages in order and resolves once the broker acknowledged
   * all of them. On failure the connection is dropped and the promise rejects.
   */
  async publishAll(messages: readonly MqttMessage[], signal: AbortSignal): Promise<void> {
    if (this.#closed) throw new Error('publisher closed');
    const client = await this.#connect(signal);
    try {
      await this.#publish(client, messages);
    } catch (err: unknown) {
      this.#drop(client);
      throw err;
    }
  }

  /** Disconnects. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client;
    this.#client = null;
    if (client !== null) await client.endAsync(true).catch(() => undefined);
  }

  async #connect(signal: AbortSignal): Promise<MqttClient> {
    const current = this.#client;
    if (current !== null && current.connected) return current;
    if (current !== null) this.#drop(current);
    // Loaded on first use: a hub without an MQTT sink never needs the client (a good part of its start-up otherwise).
    const { default: mqtt } = await import('mqtt');
    // Closed while the module loaded: no client may outlive close().
    if (this.#closed) throw new Error('publisher closed');
    const client = mqtt.connect(this.#config.url, this.#options);
    // Without a listener an 'error' event would throw; failures surface through the outcomes below.
    client.on('error', () => undefined);
    this.#client = client;
    try {
      await settle(client, signal, this.#config.connectTimeoutMs, `connecting to ${redact(this.#config.url)}`, (done, fail) => {
        client.once('connect', () => done());
        client.once('error', fail);
        client.once('close', () => fail(new Error(`connection to ${redact(this.#config.url)} closed`)));
      });
    } catch (err: unknown) {
      this.#drop(client);
      throw err;
    }
    // MQTT.js leaves Nagle's algorithm on; with the broker's delayed ACKs each batch would stall ~40 ms.
    (client.stream as { setNoDelay?: (noDelay: boolean) => void }).setNoDelay?.(true);
    return client;
  }

  #publish(client: MqttClient, messages: readonly MqttMessage[]): Promise<void> {
    // Once published, the acks are awaited even when the runner is closing (bounded by ackTimeoutMs):
    // closing then saves the position past this batch instead of repeating it after the restart.
    return settle(client, null, this.#config.ackTimeoutMs, `waiting for ${messages.length} acknowledgements`, (done, fail) => {
      let sent = 0;
      let acked = 0;
      let failed = false;
      // At most maxInflight unacknowledged publishes: brokers cap them (AWS IoT Core: 100) and may disconnect beyond.
      const send = (): void => {
        while (!failed && sent < messages.length && sent - acked < this.#config.maxInflight) {
          const message = messages[sent] as MqttMessage;
          sent += 1;
          client.publish(message.topic, message.payload, { qos: message.qos, retain: message.retain }, (err) => {
            if (err) {
              failed = true;
              fail(err);
              return;
            }
            acked += 1;
            if (acked === messages.length) done();
            // Refill at once: the publish also carries our TCP ACK, so a broker with Nagle on
            // (Mosquitto's default) sends its next PUBACKs without waiting for our delayed ACK.
            else send();
          });
        }
      };
      if (messages.length === 0) done();
      client.once('close', () => fail(new Error('broker connection lost before every message was acknowledged')));
      send();
    });
  }


  #drop(client: MqttClient): void {
    if (this.#client === client) this.#client = null;
    // Never removeAllListeners(): MQTT.js clears its own timers in its 'close' listener.
    client.end(true);
  }
}

/**
 * Runs `start` and settles on its first outcome, a timeout or an abort, then
 * removes every listener it added (the client lives on across batches).
 */
function settle(
  client: MqttClient,
  signal: AbortSignal | null,
  timeoutMs: number,
  what: string,
  start: (done: () => void, fail: (err: Error) => void) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const events = ['connect', 'error', 'close'] as const;
    const before = events.map((event) => client.listeners(event).length);
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      // Remove only the listeners `start` added.
      events.forEach((event, i) => {
        for (const listener of client.listeners(event).slice(before[i])) client.removeListener(event, listener as () => void);
      });
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = (): void => finish(abortError(signal ?? undefined));
    const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms ${what}`)), timeoutMs);
    if (signal?.aborted === true) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    start(() => finish(), (err) => finish(err));
  });
}

/** The URL without credentials, for logs and errors. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return 'the broker';
  }
}
