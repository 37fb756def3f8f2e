/**
 * Reads one JSON object of the config file key by key, so that every error
 * names the key (`config: sinks[1].qos must be 0, 1 or 2, got 3`) and keys
 * nobody read are refused (a typo must not silently fall back to a default).
 */
import { FleethubError } from '../errors.js';

/** A plain JSON object, as parsed from the config file. */
export type JsonObject = Readonly<Record<string, unknown>>;

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

/** The FH_ERR_CONFIG error for `path`. */
export function configError(path: string, expectation: string, value: unknown): FleethubError {
  return new FleethubError('FH_ERR_CONFIG', `config: ${path} must be ${expectation}, got ${shown(value)}`);
}

/** Reads the keys of one object; {@link ConfigReader.done} refuses the keys left unread. */
export class ConfigReader {
  readonly #object: JsonObject;
  readonly #read = new Set<string>();
  readonly path: string;

  constructor(value: unknown, path: string) {
    if (!isJsonObject(value)) throw configError(path, 'an object', value);
    this.#object = value;
    this.path = path;
  }

  /** True when the key is present. */
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
   * (device ids, field names, tags): read them into a `Map` or a
   * null-prototype object, never into `{}`.
   */
  keys(): string[] {
    return Object.keys(this.#object);
  }

  /** A non-empty string without control characters; `fallback` when absent (required when there is none). */
  string(key: string, fallback?: string | null): string;
  string(key: string, fallback: null): string | null;
  string(key: string, fallback?: string | null): string | null {
    const value = this.raw(key);
    if (value === undefined && fallback !== undefined) return fallback;
    if (typeof value !== 'string' || value.length === 0 || /[\u0000-\u001f]/.test(value)) {
      throw configError(this.at(key), 'a non-empty string', value);
    }
    return value;
  }

  /** An integer in [min, max]. */
  int(key: string, min: number, max: number, fallback?: number): number {
    const value = this.raw(key);
    if (value === undefined && fallback !== undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw configError(this.at(key), `an integer from ${min} to ${max}`, value);
    }
    return value;
  }

  /** A boolean. */
  bool(key: string, fallback: boolean): boolean {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') throw configError(this.at(key), 'true or false', value);
    return value;
  }

  /** One of `choices`. */
  oneOf<T extends string | number>(key: string, choices: readonly T[], fallback?: T): T {
    const value = this.raw(key);
    if (value === undefined && fallback !== undefined) return fallback;
    const found = choices.find((c) => c === value);
    if (found === undefined) throw configError(this.at(key), listOf(choices), value);
    return found;
  }

  /** A nested object, read by its own reader. */
  object(key: string): ConfigReader {
    return new ConfigReader(this.raw(key), this.at(key));
  }

  /** `path.key`. */
  at(key: string): string {
    return `${this.path}.${key}`;
  }

  /** The value of `key` if the object has it as its own (JSON.parse makes `__proto__` an own key; `constructor` is inherited). */
  #own(key: string): unknown {
    return Object.hasOwn(this.#object, key) ? this.#object[key] : undefined;
  }

  /** Refuses any key that was not read. */
  done(): void {
    for (const key of Object.keys(this.#object)) {
      if (!this.#read.has(key)) throw new FleethubError('FH_ERR_CONFIG', `config: ${this.at(key)} is not a known key`);
    }
  }
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
