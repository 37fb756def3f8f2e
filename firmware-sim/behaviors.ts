/**
 * What each `--behavior` changes in a simulated device (SPEC: Simulator),
 * as data the device reads, plus the pure generators of its bad frames.
 * Each misbehaviour exercises one of the hub's defences:
 *
 * | behavior | what the device does | the hub's answer |
 * | --- | --- | --- |
 * | `normal` | obeys hello.limits | acks |
 * | `flood` | ignores msgsPerSec, sends as fast as the socket takes | `rate_limited` nacks, then close 4029 |
 * | `oversize` | a frame over hello.limits.maxPayloadBytes | close 1009 |
 * | `garbage` | invalid JSON and invalid messages | `invalid_json` / `invalid_message` nacks, then close 1008 |
 * | `slowloris` | finishes TLS, never finishes the HTTP upgrade | closed at the handshake timeout |
 * | `badcert` | another CA's, an expired or a revoked certificate | TLS handshake refused |
 * | `reconnect-storm` | normal, but the whole fleet drops and reconnects at once, repeatedly | every device back, nothing lost |
 */
import type { BehaviorName } from './sim-options.js';
import type { Random } from './sensor-model.js';

/** How a behaviour drives the device. */
export interface BehaviorProfile {
  readonly name: BehaviorName;
  /** Pace sends by hello.limits (msgsPerSec, burst) and honour `retryAfterMs`. */
  readonly obeyLimits: boolean;
  /** `websocket`: a full connection; `slowloris`: TLS only, then a never-ending HTTP request. */
  readonly transport: 'websocket' | 'slowloris';
  /** Bad frames instead of telemetry: `garbage` and `oversize`. */
  readonly junk: 'none' | 'garbage' | 'oversize';
  /** Refused nacks (rate_limited, quota_exceeded) are queued again under a new seq rather than given up. */
  readonly retryRefused: boolean;
  /** The device uses a bad certificate (made by the fleet at start). */
  readonly badCertificate: boolean;
  /** The fleet drops every connection at once every `stormEvery`. */
  readonly storm: boolean;
  /** After the sending phase, wait for outstanding acks; only meaningful for a fleet that is meant to lose nothing. */
  readonly drain: boolean;
}

const NORMAL: BehaviorProfile = {
  name: 'normal',
  obeyLimits: true,
  transport: 'websocket',
  junk: 'none',
  retryRefused: true,
  badCertificate: false,
  storm: false,
  drain: true,
};

/** Every behaviour's profile. */
export const BEHAVIOR_PROFILES: Readonly<Record<BehaviorName, BehaviorProfile>> = {
  normal: NORMAL,
  flood: { ...NORMAL, name: 'flood', obeyLimits: false, retryRefused: false, drain: false },
  oversize: { ...NORMAL, name: 'oversize', junk: 'oversize', drain: false },
  garbage: { ...NORMAL, name: 'garbage', junk: 'garbage', drain: false },
  slowloris: { ...NORMAL, name: 'slowloris', transport: 'slowloris', drain: false },
  badcert: { ...NORMAL, name: 'badcert', badCertificate: true, drain: false },
  'reconnect-storm': { ...NORMAL, name: 'reconnect-storm', storm: true },
};

/** In `flood`, frames written per tick (every {@link FLOOD_TICK_MS}), while the socket's buffer has room. */
export const FLOOD_BATCH = 50;
export const FLOOD_TICK_MS = 10;
/** `oversize` sends this many good readings first, then the big frame, so the close follows real traffic. */
export const OVERSIZE_AFTER_GOOD = 3;

/**
 * The `i`-th garbage frame: alternately not JSON at all and JSON that breaks
 * the protocol in one way each (SPEC: Device protocol lists what is valid).
 */
export function garbageFrame(i: number, random: Random): string {
  const notJson = ['{"seq":1,"data":', 'hello hub', '\u0000\u0001\u0002', '[1,2,3', '{seq:1}', '💥'];
  const invalid = [
    '{"seq":0,"data":{"t":1}}',
    '{"seq":-3,"data":{"t":1}}',
    '{"seq":1.5,"data":{"t":1}}',
    '{"seq":7,"data":{"1bad":1}}',
    `{"seq":7,"data":{"s":"${'x'.repeat(300)}"}}`,
    '{"seq":7,"data":{"n":null}}',
    '{"seq":7}',
    '[1,2,3]',
    '42',
    '{"batch":"no"}',
  ];
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  return i % 2 === 0 ? pick(notJson) : pick(invalid);
}

/** A well-formed telemetry frame just over `maxPayloadBytes` (the hub must close 1009 before parsing it). */
export function oversizeFrame(seq: number, maxPayloadBytes: number): string {
  const head = `{"seq":${seq},"data":{"blob":"`;
  const tail = '"}}';
  return head + 'x'.repeat(Math.max(1, maxPayloadBytes + 1 - head.length - tail.length)) + tail;
}
