/**
 * Device protocol version 2, its pure core (SPEC: Device protocol version 2):
 * the negotiation by subprotocol, the v2 `hello`, and telling a v2 control
 * message (`cmdResult`, `configAck`, `csr`, `renew`) from telemetry. No I/O;
 * v2-session.ts runs a session's v2 part.
 *
 * A device that does not offer `fleethub.v2` sees exactly the version 1
 * protocol: nothing here is consulted for it.
 */
import type { DeviceLimits } from './config.js';
import { parseFrameValue, type FrameItem, type ParseContext } from './protocol.js';

/** The subprotocol a device offers to speak version 2 (SPEC). */
export const PROTOCOL_V2 = 'fleethub.v2';

/** The protocol version of a session. */
export type ProtocolVersion = 1 | 2;

/**
 * The version a device asked for, decided from the subprotocols it offered
 * (ws's `handleProtocols` set), never from what the hub echoes back.
 */
export function offeredVersion(offered: ReadonlySet<string>): ProtocolVersion {
  return offered.has(PROTOCOL_V2) ? 2 : 1;
}

/** What a hub offers a v2 device in `hello.features` (SPEC). */
export type DeviceFeature = 'renew' | 'cmd' | 'config';

/** `hello.cert` (SPEC): the certificate of this handshake, and whether the hub wants it renewed. */
export interface HelloCert {
  readonly serial: string;
  readonly notAfter: number;
  readonly renew: boolean;
}

/** What a v2 hello says beyond version 1's. */
export interface HelloV2 {
  readonly features: readonly DeviceFeature[];
  /** Left out when the hub does not know it. */
  readonly cert?: HelloCert;
}

/**
 * `{"hello":{..,"protocol":2,"features":[..],"cert"?:{..}}}`, with
 * `limits.maxDownlinkBytes` (SPEC: Device protocol version 2).
 */
export function helloV2Message(device: string, lastSeq: number | null, limits: DeviceLimits, v2: HelloV2): string {
  const { maxPayloadBytes, msgsPerSec, burst, msgsPerDay, maxFields, maxDownlinkBytes } = limits;
  const hello: Record<string, unknown> = {
    device,
    lastSeq,
    limits: { maxPayloadBytes, msgsPerSec, burst, msgsPerDay, maxFields, maxDownlinkBytes },
    protocol: 2,
    features: v2.features,
  };
  if (v2.cert !== undefined) hello.cert = v2.cert;
  return JSON.stringify({ hello });
}

/** Top-level keys of the v2 messages a device sends besides telemetry (SPEC). */
export const V2_CONTROL_KEYS = ['cmdResult', 'configAck', 'csr', 'renew'] as const;

/** One of {@link V2_CONTROL_KEYS}. */
export type V2ControlKey = (typeof V2_CONTROL_KEYS)[number];

const CONTROL_KEYS: ReadonlySet<string> = new Set(V2_CONTROL_KEYS);

/** A v2 control message: its key and the value under it (not validated yet: each handler checks its own). */
export interface V2Control {
  readonly key: V2ControlKey;
  readonly body: unknown;
}

/** What one v2 frame holds: a control message, or telemetry items as in version 1. */
export type V2Frame = { readonly control: V2Control } | { readonly control: null; readonly items: FrameItem[] };

/**
 * Parses one text frame of a v2 session: a JSON object whose only key is a
 * control key is a control message; anything else is parsed as version 1
 * telemetry (so a control key next to other keys is `invalid_message`).
 */
export function parseV2Frame(text: string, context: ParseContext): V2Frame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { control: null, items: [{ ok: false, seq: null, error: 'invalid_json', reason: 'not JSON' }] };
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    let only: string | null = null;
    let count = 0;
    for (const key in value) {
      count += 1;
      only = key;
      if (count > 1) break;
    }
    if (count === 1 && only !== null && CONTROL_KEYS.has(only)) {
      return { control: { key: only as V2ControlKey, body: (value as Record<string, unknown>)[only] } };
    }
  }
  return { control: null, items: parseFrameValue(value, context) };
}

/** UTF-8 bytes of a message, to hold it against `maxDownlinkBytes`. */
export function downlinkBytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}
