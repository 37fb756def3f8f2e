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
 * points as floats. Values that cannot be written at all (a string into a
 * number field) are dropped, logged and counted as `rejected`: retrying them
 * would block the sink forever.
 */
import { readFileSync } from 'node:fs';
import { InfluxDB, type IPoolOptions } from 'influx';
import { FleethubError } from '../errors.js';
import type { Logger } from '../log.js';
import type { StoredReading } from '../store/types.js';
import { chunkPoints, escapeMeasurement, parsePartialWrite, POINT_PRECISION, toPoint, type PointShape } from './influx-point.js';
import type { InfluxSinkConfig } from './sink-config.js';
import type { Sink, SinkDrops } from './sink.js';

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
  readonly #config: InfluxSinkConfig;
  readonly #client: InfluxDB;
  readonly #log: Logger;
  readonly #floatFields: Set<string>;
  readonly #measurement: string;
  #databaseReady: boolean;
  #rejected = 0;

  constructor(config: InfluxSinkConfig, log: Logger) {
    this.name = config.name;
    this.#config = config;
    this.#log = log;
    this.#floatFields = new Set(config.floatFields);
    this.#measurement = escapeMeasurement(config.measurement);
    this.#databaseReady = !config.createDatabase;
    const pool: IPoolOptions = { maxRetries: 0, requestTimeout: config.requestTimeoutMs, backoff: NO_BACKOFF };
    this.#client = new InfluxDB({
      host: config.host,
      port: config.port,
      protocol: config.protocol,
      database: config.database,
      username: config.username ?? undefined,
      password: config.password ?? undefined,
      options: config.ca === null ? undefined : { ca: readCa(config) },
      pool,
    });
  }

  async deliver(batch: readonly StoredReading[]): Promise<void> {
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
        const partial = await this.#write(current.map((p) => p.point));
        if (partial === null) break;
        if (partial.floatField !== null && !this.#floatFields.has(partial.floatField) && attempt < MAX_TYPE_RETRIES) {
          this.#floatFields.add(partial.floatField);
          this.#log.log('info', 'sink.influx_field_is_float', { sink: this.name, field: partial.floatField });
          const again: PointShape = { ...shape, floatFields: this.#floatFields };
          current = current.map((p) => ({ reading: p.reading, ...toPoint(p.reading, again) }));
          continue;
        }
        this.#rejected += partial.dropped;
        this.#log.log('error', 'sink.influx_points_rejected', { sink: this.name, dropped: partial.dropped, reason: partial.reason });
        break;
      }
    }
  }

  takeDrops(): SinkDrops {
    const drops = { rejected: this.#rejected, unmapped: 0 };
    this.#rejected = 0;
    return drops;
  }

  async close(): Promise<void> {
    // The package keeps no open connection between requests (Node's default agent, no keep-alive timers of its own).
  }

  /** One HTTP write; null when it was accepted whole, the partial-write details when InfluxDB dropped some points. */
  async #write(points: Parameters<InfluxDB['writePoints']>[0]): Promise<ReturnType<typeof parsePartialWrite>> {
    const { database, retentionPolicy } = this.#config;
    try {
      await this.#client.writePoints(points, { database, precision: POINT_PRECISION, retentionPolicy: retentionPolicy ?? undefined });
      return null;
    } catch (err: unknown) {
      const message = err instanceof Error ? err.message : String(err);
      // Only a 400 "partial write" is final; anything else (5xx, 401, 404 no database, network) is retried.
      const partial = /^A 400 /.test(message) ? parsePartialWrite(message) : null;
      if (partial === null) throw err;
      return partial;
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
