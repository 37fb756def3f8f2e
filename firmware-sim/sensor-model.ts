/**
 * Seeded sensor models for simulated devices: a random-walk temperature, a
 * random-walk humidity, a slowly draining battery and a noisy RSSI. The same
 * seed gives the same readings, so a run can be reproduced.
 *
 * Pure: no clock, no I/O. The device calls {@link SensorModel.read} once per
 * reading.
 */

/** A source of uniform random numbers in [0, 1). */
export type Random = () => number;

/**
 * mulberry32: a tiny, fast 32-bit PRNG, good enough for simulated noise
 * (not for anything secret).
 */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Derives a per-device seed from the run's seed and the device's index. */
export function deviceSeed(runSeed: number, index: number): number {
  // A multiplicative hash keeps neighbouring devices' streams apart.
  return (Math.imul(runSeed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
}

/** One reading's fields, as sent in `data` (SPEC: Device protocol). */
export interface SensorReading {
  /** Degrees Celsius, two decimals. */
  temp: number;
  /** Relative humidity in percent, one decimal. */
  humidity: number;
  /** Battery charge in percent, one decimal. */
  battery: number;
  /** Wi-Fi signal strength in dBm (an integer, like `WiFi.RSSI()`). */
  rssi: number;
}

/** Battery percent lost per reading: a full battery lasts 100,000 readings. */
export const BATTERY_DRAIN_PER_READING = 0.001;

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}

function round(value: number, decimals: number): number {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}

/** The sensors of one device. */
export class SensorModel {
  readonly #random: Random;
  #temp: number;
  #humidity: number;
  #battery: number;
  #rssiBase: number;

  constructor(seed: number) {
    this.#random = seededRandom(seed);
    this.#temp = 18 + this.#random() * 8;
    this.#humidity = 35 + this.#random() * 30;
    this.#battery = 60 + this.#random() * 40;
    this.#rssiBase = -45 - this.#random() * 40;
  }

  /** The next reading: each value moves a small random step from the last. */
  read(): SensorReading {
    const step = (): number => this.#random() * 2 - 1;
    this.#temp = clamp(this.#temp + step() * 0.2, -20, 60);
    this.#humidity = clamp(this.#humidity + step() * 0.5, 0, 100);
    this.#battery = Math.max(0, this.#battery - BATTERY_DRAIN_PER_READING * (1 + this.#random()));
    return {
      temp: round(this.#temp, 2),
      humidity: round(this.#humidity, 1),
      battery: round(this.#battery, 1),
      rssi: Math.round(this.#rssiBase + step() * 4),
    };
  }
}

/** SPEC: string values are at most 256 characters. */
export const MAX_STRING_VALUE = 256;

/** SPEC: field names match `[A-Za-z_][A-Za-z0-9_]{0,63}`; padding fields are `pad0`, `pad1`, ... */
const PAD_FIELD_PREFIX = 'pad';

/**
 * Adds string fields `pad0`, `pad1`, ... to `data` so that the frame
 * (`{"seq":..,"ts":..,"data":{..}}`) is at least `targetBytes` long, each
 * value within the SPEC's 256 characters, at most `maxPadFields` of them.
 * Returns the frame. With `targetBytes` at or below the natural size nothing
 * is added.
 */
export function buildTelemetryFrame(
  seq: number,
  ts: number,
  data: Readonly<Record<string, number | string | boolean>>,
  targetBytes = 0,
  maxPadFields = 24,
): string {
  const frame = { seq, ts, data: { ...data } as Record<string, number | string | boolean> };
  let text = JSON.stringify(frame);
  // Each pad field costs its value plus `,"padN":""` (about 10 bytes).
  for (let i = 0; i < maxPadFields && text.length < targetBytes; i++) {
    const overhead = `,"${PAD_FIELD_PREFIX}${i}":""`.length;
    const want = Math.min(MAX_STRING_VALUE, Math.max(1, targetBytes - text.length - overhead));
    frame.data[`${PAD_FIELD_PREFIX}${i}`] = 'x'.repeat(want);
    text = JSON.stringify(frame);
  }
  return text;
}
