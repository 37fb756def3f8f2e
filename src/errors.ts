/**
 * The one registry of fleethub's error codes.
 *
 * Each code says what the public sees (a message without paths or stacks) and
 * where the failure leaves the process: a CLI exit code, a WebSocket close
 * code, an HTTP status, or a wire error code in a device `nack`. Tests assert
 * the code, never the wording. The internal cause travels in `cause`.
 */

/** Wire error codes a device may receive in `{"nack":..,"error":..}` (SPEC: Device protocol). */
export type WireErrorCode = 'invalid_json' | 'invalid_message' | 'rate_limited' | 'quota_exceeded';

/** CLI exit codes, documented in the README. */
export const EXIT = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  CONFLICT: 4,
  INVALID_INPUT: 5,
  FILESYSTEM: 6,
  CONFIG: 7,
  NETWORK: 8,
  LOST_MESSAGES: 9,
} as const;

/** WebSocket close codes the hub sends (SPEC: close codes). */
export const CLOSE = {
  /** RFC 6455 §7.4.1: going away (hub shutting down). */
  GOING_AWAY: 1001,
  /** RFC 6455 §7.4.1: policy violation (too many invalid messages). */
  POLICY: 1008,
  /** RFC 6455 §7.4.1: message too big (frame over maxPayloadBytes). */
  TOO_BIG: 1009,
  /** RFC 6455 §7.4.1: internal error (the store failed; nothing unstored was acked). */
  INTERNAL_ERROR: 1011,
  REVOKED: 4001,
  REPLACED: 4002,
  RATE_LIMITED: 4029,
  /** Console: a dashboard read nothing for `stalledCloseMs`. */
  DASHBOARD_STALLED: 4008,
  /** Console: the token already has `maxConnectionsPerToken` dashboards open. */
  TOO_MANY_DASHBOARDS: 4409,
  UNAUTHORIZED: 4401,
} as const;

interface ErrorSpec {
  readonly message: string;
  readonly exitCode: number;
  readonly closeCode?: number;
  readonly httpStatus?: number;
  readonly wire?: WireErrorCode;
}

/** Every error code fleethub produces. */
export const ERRORS = {
  FH_ERR_INTERNAL: { message: 'internal error', exitCode: EXIT.INTERNAL, httpStatus: 500 },
  FH_ERR_USAGE: { message: 'invalid usage', exitCode: EXIT.USAGE },

  // PKI and CLI
  FH_ERR_INVALID_ID: { message: 'invalid device id', exitCode: EXIT.INVALID_INPUT },
  FH_ERR_INVALID_ARGUMENT: { message: 'invalid argument', exitCode: EXIT.USAGE },
  FH_ERR_CA_MISSING: { message: 'no CA in the PKI folder', exitCode: EXIT.NOT_FOUND },
  FH_ERR_CA_EXISTS: { message: 'a CA already exists', exitCode: EXIT.CONFLICT },
  FH_ERR_FILE_EXISTS: { message: 'file exists', exitCode: EXIT.CONFLICT },
  FH_ERR_DEVICE_UNKNOWN: { message: 'unknown device', exitCode: EXIT.NOT_FOUND },
  FH_ERR_DEVICE_EXISTS: { message: 'device already exists', exitCode: EXIT.CONFLICT },
  FH_ERR_ALREADY_REVOKED: { message: 'device already revoked', exitCode: EXIT.CONFLICT },
  FH_ERR_CSR_INVALID: { message: 'invalid certificate signing request', exitCode: EXIT.INVALID_INPUT },
  FH_ERR_PKI_IO: { message: 'cannot read or write the PKI folder', exitCode: EXIT.FILESYSTEM },
  FH_ERR_PKI_BUSY: { message: 'another fleethub command is changing the PKI folder', exitCode: EXIT.CONFLICT },
  FH_ERR_TOKEN_INVALID: { message: 'invalid token', exitCode: EXIT.INVALID_INPUT, closeCode: CLOSE.UNAUTHORIZED },
  FH_ERR_TOKEN_EXPIRED: { message: 'token expired', exitCode: EXIT.INVALID_INPUT, closeCode: CLOSE.UNAUTHORIZED },

  // Configuration and start-up
  FH_ERR_CONFIG: { message: 'invalid configuration', exitCode: EXIT.CONFIG },
  FH_ERR_LISTEN: { message: 'cannot listen', exitCode: EXIT.NETWORK },
  FH_ERR_STORE_IO: { message: 'store unavailable', exitCode: EXIT.FILESYSTEM },

  // Device protocol (SPEC: Device protocol)
  FH_ERR_INVALID_JSON: { message: 'frame is not a JSON object', exitCode: EXIT.INVALID_INPUT, wire: 'invalid_json' },
  FH_ERR_INVALID_MESSAGE: { message: 'message does not follow the protocol', exitCode: EXIT.INVALID_INPUT, wire: 'invalid_message' },
  FH_ERR_RATE_LIMITED: { message: 'rate limited', exitCode: EXIT.INVALID_INPUT, wire: 'rate_limited', closeCode: CLOSE.RATE_LIMITED },
  FH_ERR_QUOTA_EXCEEDED: { message: 'daily quota exceeded', exitCode: EXIT.INVALID_INPUT, wire: 'quota_exceeded', closeCode: CLOSE.RATE_LIMITED },
  FH_ERR_TOO_MANY_INVALID: { message: 'too many invalid messages', exitCode: EXIT.INVALID_INPUT, closeCode: CLOSE.POLICY },
  FH_ERR_PAYLOAD_TOO_BIG: { message: 'frame over maxPayloadBytes', exitCode: EXIT.INVALID_INPUT, closeCode: CLOSE.TOO_BIG },
  FH_ERR_REVOKED: { message: 'certificate revoked', exitCode: EXIT.INVALID_INPUT, closeCode: CLOSE.REVOKED, httpStatus: 403 },
  FH_ERR_REPLACED: { message: 'replaced by a newer connection', exitCode: EXIT.CONFLICT, closeCode: CLOSE.REPLACED },
  FH_ERR_SHUTTING_DOWN: { message: 'hub shutting down', exitCode: EXIT.OK, closeCode: CLOSE.GOING_AWAY },
  FH_ERR_NOT_FOUND: { message: 'not found', exitCode: EXIT.NOT_FOUND, httpStatus: 404 },
  FH_ERR_ORIGIN_FORBIDDEN: { message: 'origin not allowed', exitCode: EXIT.USAGE, httpStatus: 403 },
  FH_ERR_FORBIDDEN: { message: 'forbidden', exitCode: EXIT.USAGE },
  // Console (dashboards)
  FH_ERR_DASHBOARD_STALLED: { message: 'dashboard read nothing for too long', exitCode: EXIT.NETWORK, closeCode: CLOSE.DASHBOARD_STALLED },
  FH_ERR_TOO_MANY_DASHBOARDS: { message: 'too many dashboard connections', exitCode: EXIT.NETWORK, closeCode: CLOSE.TOO_MANY_DASHBOARDS, httpStatus: 503 },
  FH_ERR_TOO_MANY_SUBSCRIPTIONS: { message: 'too many subscriptions', exitCode: EXIT.USAGE },

  // Simulator
  FH_ERR_LOST_MESSAGES: { message: 'messages were lost', exitCode: EXIT.LOST_MESSAGES },
} as const satisfies Record<string, ErrorSpec>;

/** A code from {@link ERRORS}. */
export type ErrorCode = keyof typeof ERRORS;

/**
 * An expected failure with a registered code. `message` is safe to show a
 * user or a peer; anything internal goes in `cause`.
 */
export class FleethubError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ?? ERRORS[code].message, options);
    this.name = 'FleethubError';
    this.code = code;
  }

  /** The CLI exit code for this error. */
  get exitCode(): number {
    return ERRORS[this.code].exitCode;
  }
}

/** True when `err` is a {@link FleethubError}, optionally of one code. */
export function isFleethubError(err: unknown, code?: ErrorCode): err is FleethubError {
  return err instanceof FleethubError && (code === undefined || err.code === code);
}
