/**
 * The `influx` sink (SPEC: Sinks): InfluxDB 1.x points through the `influx`
 * package, measurement `telemetry` by default, tag `device` plus static tags,
 * the reading's data as fields (integers stay integers), the reading's ms
 * timestamp (plus `seq mod 1000` µs so that same-ms readings stay apart), in
 * writes bounded by points and bytes.
 *
 * Field types: InfluxDB fixes a field's type at its first write. A device
 * that sends `21` then `21.5` would see the second refused; so when the
 * server says a field is float, the sink remembers it and resends those
 * points as floats.
 *
 * Refusals: any other 400 (a partial write: a string into a number field, a
 * field named `time`; or a write InfluxDB could not parse at all) and 413
 * (body too large) mean the batch can never be written as it is, so the sink
 * throws a {@link SinkRefusedError}; the runner then finds the refused
 * point(s) and sets them aside. Rewriting the accepted points of a partial
 * write lands on the same points (same series and time), so nothing repeats.
 * Everything else (5xx, 401/403/404, timeouts, no connection) is retried.
 */
import { readFileSync } from 'node:fs';
import type { Agent } from 'node:http';
import { InfluxDB, type IPoolOptions } from 'influx';
import { FleethubError } from '../errors.js';
import type { Logger } from '../log.js';
import type { StoredReading } from '../store/types.js';
import { chunkPoints, escapeMeasurement, parsePartialWrite, POINT_PRECISION, toPoint, type PointShape } from './influx-point.js';
import type { InfluxSinkConfig } from './influx-config.js';
import { SinkRefusedError, type Sink } from './sink.js';
import { sinkAgent } from './sink-agent.js';

/** Times a write is resent after learning that a field is float. */
const MAX_TYPE_RETRIES = 8;

/**
 * The package's own host-disabling backoff, set to zero: the runner already
 * backs off with jitter, and the package's re-enable timer (up to 10 s, not
 * unref'd) would otherwise outlive `close()`.
 */
const NO_BACKOFF = { getDelay: () => 0, next: () => NO_BACKOFF, reset: () => NO_BACKOFF };

/** Writes readings to InfluxDB 1.x. */
export class InfluxSink implements Sink {
  readonly name: string;
  readonly type = 'influx';
  readonly #config: InfluxSinkConfig;
  readonly #client: InfluxDB;
  /** Its own keep-alive connection, ended by close(). */
  readonly #agent: Agent;
  readonly #log: Logger;
  readonly #floatFields: Set<string>;
  readonly #measurement: string;
  #databaseReady: boolean;
  #closed = false;

  constructor(config: InfluxSinkConfig, log: Logger) {
    this.name = config.name;
    this.#config = config;
    this.#log = log;
    this.#floatFields = new Set(config.floatFields);
    this.#measurement = escapeMeasurement(config.measurement);
    this.#databaseReady = !config.createDatabase;
    const pool: IPoolOptions = { maxRetries: 0, requestTimeout: config.requestTimeoutMs, backoff: NO_BACKOFF };
    this.#agent = sinkAgent(config.protocol === 'https' ? 'https:' : 'http:');
    this.#client = new InfluxDB({
      host: config.host,
      port: config.port,
      protocol: config.protocol,
      database: config.database,
      username: config.username ?? undefined,
      password: config.password ?? undefined,
      // The package passes these on to every request it makes.
      options: config.ca === null ? { agent: this.#agent } : { agent: this.#agent, ca: readCa(config) },
      pool,
    });
  }

  async deliver(batch: readonly StoredReading[]): Promise<void> {
    if (this.#closed) throw new Error(`sink ${this.name} is closed`);
    if (!this.#databaseReady) {
      // CREATE DATABASE is a no-op for an existing database (InfluxQL reference).
      await this.#client.createDatabase(this.#config.database);
      this.#databaseReady = true;
    }
    const shape: PointShape = { measurement: this.#measurement, tags: this.#config.tags, floatFields: this.#floatFields };
    const points = batch.map((reading) => ({ reading, ...toPoint(reading, shape) }));
    for (const chunk of chunkPoints(points, this.#config.maxPoints, this.#config.maxBytes)) {
      let current = chunk;
      for (let attempt = 0; ; attempt += 1) {
        const refusal = await this.#write(current.map((p) => p.point));
        if (refusal === null) break;
        const partial = parsePartialWrite(refusal.message);
        const floatField = partial?.floatField ?? null;
        if (floatField !== null && !this.#floatFields.has(floatField) && attempt < MAX_TYPE_RETRIES) {
          this.#floatFields.add(floatField);
          this.#log.log('info', 'sink.influx_field_is_float', { sink: this.name, field: floatField });
          const again: PointShape = { ...shape, floatFields: this.#floatFields };
          current = current.map((p) => ({ reading: p.reading, ...toPoint(p.reading, again) }));
          continue;
        }
        throw refusal;
      }
    }
  }

  async close(): Promise<void> {
    // After close, deliveries are refused; the runner closes a sink after its last delivery, so only idle sockets are left to end.
    this.#closed = true;
    this.#agent.destroy();
  }

  /** One HTTP write; null when it was accepted whole, the refusal when InfluxDB will never take it as it is. */
  async #write(points: Parameters<InfluxDB['writePoints']>[0]): Promise<SinkRefusedError | null> {
    const { database, retentionPolicy } = this.#config;
    try {
      await this.#client.writePoints(points, { database, precision: POINT_PRECISION, retentionPolicy: retentionPolicy ?? undefined });
      return null;
    } catch (err: unknown) {
      const status = (err as { res?: { statusCode?: unknown } }).res?.statusCode;
      // 400: malformed or refused points (InfluxDB 1.x "/write" reference); 413: the body is over max-body-size.
      if (status === 400 || status === 413) {
        const message = err instanceof Error ? err.message : String(err);
        return new SinkRefusedError(`InfluxDB refused ${points.length} point(s): ${message.slice(0, 300)}`, { cause: err });
      }
      throw err;
    }
  }
}

function readCa(config: InfluxSinkConfig): Buffer {
  try {
    return readFileSync(config.ca ?? '');
  } catch (err: unknown) {
    throw new FleethubError('FH_ERR_CONFIG', `config: ${config.path}.ca must be a readable file, got ${JSON.stringify(config.ca)}`, { cause: err });
  }
}
