/**
 * The protocol 2 part of one device session (SPEC: Device protocol version
 * 2): the v2 `hello` with the features this hub offers this device, and the
 * control messages routed to whoever handles them (commands, desired
 * configuration, renewal). Each of those is a {@link V2Participant}: the
 * listener hands every v2 session the hub's participants, so a feature plugs
 * in without touching the session.
 */
import type { X509Certificate } from 'node:crypto';
import type { FrameItem, ParseContext } from './protocol.js';
import { helloV2Message, parseV2Frame, type DeviceFeature, type HelloCert, type V2ControlKey } from './protocol-v2.js';
import type { DownlinkPort, SessionExtension } from './session-extension.js';

/** Who a v2 session is talking to. */
export interface V2Peer {
  readonly device: string;
  /** The device's plan from the inventory, if any. */
  readonly plan: string | undefined;
  /** The client certificate of this connection's handshake. */
  readonly certificate?: X509Certificate;
}

/** Handles one control message's body; returns why it is invalid (the device gets `invalid_message`), or null. */
export type V2ControlHandler = (port: DownlinkPort, body: unknown) => string | null;

/** One protocol 2 feature, shared by every v2 session of the hub. */
export interface V2Participant {
  /** The feature it offers this device in `hello.features`, or null. */
  feature(peer: V2Peer): DeviceFeature | null;
  /** The control messages it handles. */
  readonly handlers: ReadonlyMap<V2ControlKey, V2ControlHandler>;
  /** `hello` was sent: the session may carry this feature's messages. */
  opened(port: DownlinkPort, peer: V2Peer): void;
  /** The session closed with `code`. */
  closed(port: DownlinkPort, code: number): void;
  /** `hello.cert` for this connection, when this participant knows it. */
  helloCert?(port: DownlinkPort, peer: V2Peer): HelloCert | undefined;
}

/** The v2 extension of one session. */
export class V2Session implements SessionExtension {
  readonly #port: DownlinkPort;
  readonly #peer: V2Peer;
  readonly #participants: readonly V2Participant[];

  constructor(port: DownlinkPort, peer: V2Peer, participants: readonly V2Participant[]) {
    this.#port = port;
    this.#peer = peer;
    this.#participants = participants;
  }

  hello(lastSeq: number | null): string {
    const features: DeviceFeature[] = [];
    let cert: HelloCert | undefined;
    for (const participant of this.#participants) {
      const feature = participant.feature(this.#peer);
      if (feature !== null && !features.includes(feature)) features.push(feature);
      cert ??= participant.helloCert?.(this.#port, this.#peer);
    }
    return helloV2Message(this.#port.device, lastSeq, this.#port.limits, cert === undefined ? { features } : { features, cert });
  }

  parse(text: string, context: ParseContext): FrameItem[] {
    const frame = parseV2Frame(text, context);
    if (frame.control === null) return frame.items;
    const { key, body } = frame.control;
    for (const participant of this.#participants) {
      const handler = participant.handlers.get(key);
      if (handler === undefined) continue;
      const invalid = handler(this.#port, body);
      return invalid === null ? [] : [{ ok: false, seq: null, error: 'invalid_message', reason: invalid }];
    }
    return [{ ok: false, seq: null, error: 'invalid_message', reason: `${key} is not offered` }];
  }

  opened(): void {
    for (const participant of this.#participants) participant.opened(this.#port, this.#peer);
  }

  closed(code: number): void {
    for (const participant of this.#participants) participant.closed(this.#port, code);
  }
}
