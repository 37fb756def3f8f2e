/**
 * The one config reader. Every area reads its own section of the config file
 * (or its options object) key by key through a {@link ConfigReader}, so that
 * every value meets the same rules and every error is the same one line
 * naming the full key (`config: sinks[1].qos must be 0, 1 or 2, got 3`), and
 * keys nobody read are refused (a typo must not silently fall back to a
 * default). Command-line flags read through it too, with their own
 * {@link ConfigSource} (`sim: --devices must be …`).
 */
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { DURATION_UNITS_MS, parseDurationMs, type DurationUnit } from '../duration.js';
import { FleethubError, type ErrorCode } from '../errors.js';

/** A plain JSON object, as parsed from the config file. */
export type JsonObject = Readonly<Record<string, unknown>>;

/** Where the values come from: how an error is told, and how text is read. */
export interface ConfigSource {
  /** The error's code (and so the CLI's exit code). */
  readonly code: ErrorCode;
  /** What the message starts with: `config`, `sim`. */
  readonly prefix: string;
  /** How a key's path is shown (a flag: `--payload-bytes`). @defaultValue the path itself */
  readonly name?: (path: string) => string;
  /** Numbers may come as text (command-line flags). @defaultValue false */
  readonly textNumbers?: boolean;
  /** Relative paths written in the source are taken from here (the config file's folder). @defaultValue the working directory */
  readonly baseDir?: string;
}

/** The config file (`fleethub serve --config`): FH_ERR_CONFIG, exit 7. */
export const CONFIG_FILE: ConfigSource = Object.freeze({ code: 'FH_ERR_CONFIG', prefix: 'config' });

/** Largest integer a config value may be (a JSON number is exact up to it). */
export const MAX_CONFIG_INTEGER = Number.MAX_SAFE_INTEGER;

/** True for a plain object (not null, not an array). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `"x"`, `3`, `[1,2]`: the value as the user wrote it, shortened. */
export function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The FH_ERR_CONFIG error for the config file's key `path`. */
export function configError(path: string, expectation: string, value: unknown): FleethubError {
  return sourceError(CONFIG_FILE, path, expectation, value);
}

/** `<prefix>: <key> must be <expectation>, got <value>` with the source's code. */
export function sourceError(source: ConfigSource, path: string, expectation: string, value: unknown): FleethubError {
  return new FleethubError(source.code, `${source.prefix}: ${keyName(source, path)} must be ${expectation}, got ${shown(value)}`);
}

function keyName(source: ConfigSource, path: string): string {
  return source.name === undefined ? path : source.name(path);
}

/** What an integer in [min, max] is called in an error. */
export function integerRule(min: number, max: number): string {
  if (max >= MAX_CONFIG_INTEGER) return min === 1 ? 'a positive integer' : `an integer ≥ ${min}`;
  return `an integer from ${min} to ${max}`;
}

/**
 * Reads the keys of one object; {@link ConfigReader.done} refuses the keys
 * left unread. A reader made for an absent section reads as an empty object,
 * so every key takes its default.
 */
export class ConfigReader {
  readonly #object: JsonObject;
  readonly #read = new Set<string>();
  /** The object's full path (`sinks[0]`, `device.proxyProtocol`); `''` at the top level. */
  readonly path: string;
  readonly source: ConfigSource;

  constructor(value: unknown, path: string, source: ConfigSource = CONFIG_FILE) {
    this.path = path;
    this.source = source;
    if (!isJsonObject(value)) throw this.#error(path === '' ? '(top level)' : path, path === '' ? 'a JSON object' : 'an object', value);
    this.#object = value;
  }

  /**
   * A reader of an options object given in code (`StoreOptions`,
   * `DeviceOwnershipOptions`), named `name` in errors
   * (`config: deviceOwnershipOptions.claimAttempts must be a positive integer, got 0`).
   * Its keys are its type's, and it may hold what JSON cannot (a connection,
   * callbacks): do not call {@link done} on it.
   */
  static options(value: object, name: string): ConfigReader {
    return new ConfigReader(value, name);
  }

  /** A reader of the top level of `value` (the parsed config file). */
  static root(value: unknown, source: ConfigSource = CONFIG_FILE): ConfigReader {
    return new ConfigReader(value, '', source);
  }

  /** True when the key is present (and not undefined). */
  has(key: string): boolean {
    return this.#own(key) !== undefined;
  }

  /** The raw value, marked as read. */
  raw(key: string): unknown {
    this.#read.add(key);
    return this.#own(key);
  }

  /**
   * The object's own keys, for sections keyed by names the user chooses
   * (device ids, field names, tags, plans): read them into a `Map` or a
   * null-prototype object, never into `{}`.
   */
  keys(): string[] {
    return Object.keys(this.#object);
  }

  /** A non-empty string (not only spaces) without control characters; `fallback` when absent (required when there is none). */
  string(key: string, fallback?: string): string;
  string(key: string, fallback: null): string | null;
  string(key: string, fallback?: string | null): string | null {
    const value = this.raw(key);
    if (value === undefined && fallback !== undefined) return fallback;
    if (typeof value !== 'string' || value.trim() === '' || /[\u0000-\u001f\u007f]/.test(value)) {
      throw this.fail(key, 'a non-empty string', value);
    }
    return value;
  }

  /** An integer in [min, max]. */
  int(key: string, min: number, max: number, fallback?: number): number {
    const value = this.#number(key);
    if (value === undefined && fallback !== undefined) return fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      throw this.fail(key, integerRule(min, max), this.raw(key));
    }
    return value;
  }

  /** A finite number in [min, max] (fractions allowed). */
  number(key: string, min: number, max: number, fallback?: number): number {
    const value = this.#number(key);
    if (value === undefined && fallback !== undefined) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      throw this.fail(key, `a number from ${min} to ${max}`, this.raw(key));
    }
    return value;
  }

  /** `true` or `false`. */
  bool(key: string, fallback: boolean): boolean {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') throw this.fail(key, 'true or false', value);
    return value;
  }

  /** One of `choices`. */
  oneOf<T extends string | number>(key: string, choices: readonly T[], fallback?: T): T {
    const value = this.raw(key);
    if (value === undefined && fallback !== undefined) return fallback;
    const found = choices.find((c) => c === value);
    if (found === undefined) throw this.fail(key, listOf(choices), value);
    return found;
  }

  /**
   * A file or folder path, absolute. One written in the source is taken from
   * the source's `baseDir` (the config file's folder); the fallback, a
   * default, from the working directory. Null when absent and `fallback` is null.
   */
  filePath(key: string, fallback?: string): string;
  filePath(key: string, fallback: null): string | null;
  filePath(key: string, fallback?: string | null): string | null {
    if (!this.has(key) && fallback !== undefined) {
      this.raw(key);
      return fallback === null ? null : resolvePath(fallback);
    }
    const value = this.string(key).trim();
    if (isAbsolute(value)) return value;
    return this.source.baseDir === undefined ? resolvePath(value) : resolvePath(this.source.baseDir, value);
  }

  /**
   * A duration in whole ms, at least `minMs` (and at most `maxMs`): `500ms`,
   * `30s`, `2m`, `1h`, `7d` (src/duration.ts), or a bare number in `bareUnit`.
   */
  duration(key: string, bareUnit: DurationUnit, minMs: number, maxMs: number, fallback?: number): number {
    const value = this.raw(key);
    if (value === undefined && fallback !== undefined) return fallback;
    const ms = typeof value === 'number'
      ? (Number.isFinite(value) && value >= 0 ? Math.round(value * DURATION_UNITS_MS[bareUnit]) : null)
      : typeof value === 'string' ? parseDurationMs(value, bareUnit) : null;
    if (ms === null) throw this.fail(key, `a duration such as ${bareUnit === 's' ? '30, ' : ''}30s, 2m or 500ms`, value);
    if (ms < minMs || ms > maxMs) {
      throw this.fail(key, maxMs === Number.POSITIVE_INFINITY ? `at least ${formatMs(minMs)}` : `from ${formatMs(minMs)} to ${formatMs(maxMs)}`, value);
    }
    return ms;
  }

  /** An array (its entries are the caller's to check, each named `key[i]`). */
  array(key: string, what: string, fallback?: readonly unknown[]): readonly unknown[] {
    const value = this.raw(key);
    if (value === undefined && fallback !== undefined) return fallback;
    if (!Array.isArray(value)) throw this.fail(key, what, value);
    return value;
  }

  /** A required nested object, read by its own reader (the caller calls its `done()`). */
  object(key: string): ConfigReader {
    return new ConfigReader(this.raw(key), this.at(key), this.source);
  }

  /**
   * An optional nested section: `read` gets a reader of it (of an empty
   * object when the key is absent, so every key takes its default), and the
   * section's unread keys are refused when `read` returns.
   */
  section<T>(key: string, read: (r: ConfigReader) => T): T {
    const value = this.raw(key);
    const r = new ConfigReader(value === undefined ? {} : value, this.at(key), this.source);
    const out = read(r);
    r.done();
    return out;
  }

  /** `path.key` (just `key` at the top level). */
  at(key: string): string {
    return this.path === '' ? key : `${this.path}.${key}`;
  }

  /** The error for `key` holding `value` when it must be `expectation`. */
  fail(key: string, expectation: string, value: unknown): FleethubError {
    return this.#error(this.at(key), expectation, value);
  }

  /** Refuses any key that was not read, naming the keys that were. */
  done(): void {
    for (const key of Object.keys(this.#object)) {
      if (!this.#read.has(key)) {
        const known = [...this.#read].map((k) => (this.source.name === undefined ? k : this.source.name(this.at(k)))).join(', ');
        throw new FleethubError(this.source.code, `${this.source.prefix}: unknown key ${keyName(this.source, this.at(key))} (known: ${known})`);
      }
    }
  }

  #error(path: string, expectation: string, value: unknown): FleethubError {
    return sourceError(this.source, path, expectation, value);
  }

  /** The value as a number when it is one (or, from text sources, numeric text); else the raw value. */
  #number(key: string): unknown {
    const value = this.raw(key);
    if (this.source.textNumbers !== true || typeof value !== 'string') return value;
    return value.trim() === '' ? Number.NaN : Number(value);
  }

  /** The value of `key` if the object has it as its own (JSON.parse makes `__proto__` an own key; `constructor` is inherited). */
  #own(key: string): unknown {
    return Object.hasOwn(this.#object, key) ? this.#object[key] : undefined;
  }
}

/**
 * Reads integer options given in code: each key of `rules` as an integer
 * from its `min` up (to {@link MAX_CONFIG_INTEGER}), its `fallback` when
 * absent. `name` names the object in errors (`deviceOwnershipOptions`).
 * Throws FH_ERR_CONFIG naming the option.
 */
export function readIntOptions<K extends string>(
  options: object,
  name: string,
  rules: Readonly<Record<K, readonly [min: number, fallback: number]>>,
): Readonly<Record<K, number>> {
  const r = ConfigReader.options(options, name);
  const out = {} as Record<K, number>;
  for (const key of Object.keys(rules) as K[]) {
    const [min, fallback] = rules[key];
    out[key] = r.int(key, min, MAX_CONFIG_INTEGER, fallback);
  }
  return Object.freeze(out);
}

/** A frozen null-prototype object of `entries`: `constructor` or `__proto__` as a key is data, not a property of Object.prototype. */
export function nameMap<T>(entries: Iterable<readonly [string, T]>): Readonly<Record<string, T>> {
  const out = Object.create(null) as Record<string, T>;
  for (const [key, value] of entries) out[key] = value;
  return Object.freeze(out);
}

function listOf(choices: readonly (string | number)[]): string {
  const shownChoices = choices.map((c) => (typeof c === 'string' ? `"${c}"` : String(c)));
  if (shownChoices.length <= 1) return shownChoices.join('');
  return `${shownChoices.slice(0, -1).join(', ')} or ${shownChoices.at(-1) ?? ''}`;
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
