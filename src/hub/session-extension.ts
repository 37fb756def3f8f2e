/**
 * The seam between a device session and what a negotiated protocol adds to
 * it (protocol 2: v2-session.ts). A version 1 session has no extension and
 * runs exactly as before; with one, the extension writes `hello`, parses each
 * frame (control messages first, then telemetry) and hears when the session
 * opened and closed.
 */
import type { DeviceLimits } from './config.js';
import type { FrameItem, ParseContext } from './protocol.js';

/** What an extension may do with its session. */
export interface DownlinkPort {
  readonly device: string;
  /** Certificate serial of this connection (uppercase hex). */
  readonly serial: string;
  readonly limits: DeviceLimits;
  /**
   * Sends one hub-to-device message. False, and nothing sent, when it is over
   * `limits.maxDownlinkBytes` or the session is closing.
   */
  sendDownlink(text: string): boolean;
  /** Whether the session is open (not closing, not closed). */
  readonly open: boolean;
}

/** A session's protocol extension. */
export interface SessionExtension {
  /** The `hello` text. */
  hello(lastSeq: number | null): string;
  /** Parses one text frame: telemetry items for the session, control messages handled here (an invalid one comes back as an invalid item). */
  parse(text: string, context: ParseContext): FrameItem[];
  /** `hello` has been sent. */
  opened(): void;
  /** The connection closed with `code`. */
  closed(code: number): void;
}

/** Made by the listener for a session that negotiated an extension. */
export type SessionExtensionFactory = (port: DownlinkPort) => SessionExtension;
