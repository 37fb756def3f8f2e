/**
 * The `thingspeak` sink (SPEC: Sinks): each device's readings go to its
 * channel, with the channel's field map. HTTP transport: bulk JSON updates of
 * at most 960 entries, spaced by the channel's minimum interval so that
 * nothing is lost to the rate limit; a `0`, 429, 5xx, 401, 403, 404 or 408
 * answer is a failure that the runner retries (the last four are a
 * configuration or a network problem, not a bad reading); any other 4xx
 * means ThingSpeak refuses the entries as malformed, and is thrown as a
 * {@link SinkRefusedError} so that the runner sets them aside. MQTT transport: one QoS 0 publish per reading to
 * `channels/<id>/publish`, the only QoS ThingSpeak's broker offers, so that
 * mode is at most once. Readings of devices without a channel are skipped
 * and counted as `unmapped`.
 */
import http from 'node:http';
import https from 'node:https';
import type { StoredReading } from '../store/types.js';
import { MqttPublisher, readTlsFiles } from './mqtt-publisher.js';
import type { ThingSpeakChannel, ThingSpeakSinkConfig } from './thingspeak-config.js';
import { isSinkRefused, SinkRefusedError, sleep, type Sink, type SinkDrops } from './sink.js';
import { bulkBody, isAccepted, mqttPayload, toUpdate, type ThingSpeakUpdate } from './thingspeak-entry.js';
import { sinkAgent } from './sink-agent.js';

/** The updates of one channel within a batch, with the position of each. */
interface ChannelWork {
  readonly channel: ThingSpeakChannel;
  readonly items: Array<{ position: number; update: ThingSpeakUpdate }>;
}

/** HTTP answers that say "not now" rather than "never": retried by the runner. */
const RETRIED_CLIENT_ERRORS: ReadonlySet<number> = new Set([401, 403, 404, 408, 429]);

/** Writes readings to ThingSpeak channels. */
export class ThingSpeakSink implements Sink {
  readonly name: string;
  readonly type = 'thingspeak';
  readonly #config: ThingSpeakSinkConfig;
  readonly #publisher: MqttPublisher | null;
  readonly #ca: Buffer | undefined;
  /** HTTP transport: its own keep-alive connection, ended by close(). */
  readonly #agent: http.Agent | null;
  /** When each channel may be updated next (ms since epoch). */
  readonly #nextAllowed = new Map<number, number>();
  /**
   * Highest position each channel has accepted: a batch delivered again
   * after a failure skips what already went through, so ThingSpeak (which
   * keeps duplicates) gets no repeats within one run of the hub.
   */
  readonly #acceptedThrough = new Map<number, number>();
  #unmapped = 0;
  #closed = false;

  constructor(config: ThingSpeakSinkConfig) {
    this.name = config.name;
    this.#config = config;
    this.#publisher = config.transport === 'mqtt' ? new MqttPublisher(config.mqtt, config.name, config.path) : null;
    this.#ca = config.transport === 'http' ? readTlsFiles({ ca: config.ca, cert: null, key: null }, config.path).ca : undefined;
    this.#agent = config.transport === 'http' ? sinkAgent(new URL(config.url).protocol === 'https:' ? 'https:' : 'http:') : null;
  }

  async deliver(batch: readonly StoredReading[], signal: AbortSignal): Promise<void> {
    if (this.#closed) throw new Error(`sink ${this.name} is closed`);
    const work = new Map<number, ChannelWork>();
    let unmapped = 0;
    for (const reading of batch) {
      const channel = this.#config.channels.get(reading.device);
      const update = channel === undefined ? null : toUpdate(reading, channel);
      if (channel === undefined || update === null) {
        unmapped += 1;
        continue;
      }
      if (reading.position <= (this.#acceptedThrough.get(channel.channelId) ?? -1)) continue;
      const entry = work.get(channel.channelId) ?? { channel, items: [] };
      entry.items.push({ position: reading.position, update });
      work.set(channel.channelId, entry);
    }
    // Channels are independent: one waiting out its interval does not hold up the others.
    const results = await Promise.allSettled([...work.values()].map((w) => this.#deliverChannel(w, signal)));
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    // "Try again" wins over "refused": the runner retries the whole batch, and the channels that took theirs skip them.
    const failed = failures.find((reason) => !isSinkRefused(reason)) ?? failures[0];
    if (failed !== undefined) throw failed;
    // Counted once the batch went through: a batch delivered again (or in parts) is not counted twice.
    this.#unmapped += unmapped;
  }

  takeDrops(): SinkDrops {
    const drops = { unmapped: this.#unmapped };
    this.#unmapped = 0;
    return drops;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#agent?.destroy();
    await this.#publisher?.close();
  }

  async #deliverChannel(work: ChannelWork, signal: AbortSignal): Promise<void> {
    const { channelId } = work.channel;
    const config = this.#config;
    const size = config.transport === 'http' ? config.maxEntries : 1;
    for (let i = 0; i < work.items.length; i += size) {
      const chunk = work.items.slice(i, i + size);
      const wait = (this.#nextAllowed.get(channelId) ?? 0) - Date.now();
      if (wait > 0) await sleep(wait, signal);
      try {
        if (this.#publisher === null) await this.#postBulk(work.channel, chunk.map((c) => c.update));
        else await this.#publish(work.channel, chunk.map((c) => c.update), signal);
      } finally {
        // A refused call counts against the interval too (ThingSpeak's limit is per request).
        this.#nextAllowed.set(channelId, Date.now() + this.#config.minIntervalMs);
      }
      this.#acceptedThrough.set(channelId, chunk.at(-1)?.position ?? -1);
    }
  }

  #publish(channel: ThingSpeakChannel, updates: readonly ThingSpeakUpdate[], signal: AbortSignal): Promise<void> {
    const publisher = this.#publisher;
    if (publisher === null) throw new Error('no MQTT transport');
    const messages = updates.map((u) => ({ topic: `channels/${channel.channelId}/publish`, payload: mqttPayload(u), qos: 0 as const, retain: false }));
    return publisher.publishAll(messages, signal);
  }

  #postBulk(channel: ThingSpeakChannel, updates: readonly ThingSpeakUpdate[]): Promise<void> {
    const config = this.#config;
    if (config.transport !== 'http') throw new Error('no HTTP transport');
    const url = new URL(`${config.url}/channels/${channel.channelId}/bulk_update.json`);
    const body = bulkBody(channel.writeKey, updates);
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = transport.request(
        url,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          ca: this.#ca,
          timeout: config.requestTimeoutMs,
          agent: this.#agent ?? undefined,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            if (text.length < 4096) text += chunk;
          });
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            const why = `ThingSpeak channel ${channel.channelId} refused ${updates.length} entries: ${status} ${text.slice(0, 200)}`;
            if (isAccepted(status, text)) resolve();
            else if (status >= 400 && status < 500 && !RETRIED_CLIENT_ERRORS.has(status)) reject(new SinkRefusedError(why));
            else reject(new Error(why));
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`ThingSpeak did not answer within ${config.requestTimeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}
