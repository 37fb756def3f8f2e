/**
 * Error and outcome codes, in four groups that never mix:
 *
 * - {@link ERRORS}: the errors fleethub raises inside its own process
 *   ({@link FleethubError}): bad input to a command, a bad config, a PKI or
 *   store folder that cannot be used, a port that cannot be bound. Each has a
 *   public message and the CLI exit code ({@link EXIT}) it ends a command
 *   with. Tests assert the code, never the wording; the internal cause
 *   travels in `cause`, so no path or stack reaches a user.
 * - {@link CLOSE}: WebSocket close codes the hub sends a device or a
 *   dashboard (SPEC: close codes, Dashboard protocol).
 * - {@link WIRE_ERROR_CODES}: the `error` of a device `nack` (SPEC: Device
 *   protocol).
 * - {@link DASHBOARD_REASONS}: every way the console refuses or ends a
 *   dashboard connection, by reason: its close code or HTTP status, its
 *   public text and its metric label.
 *
 * Close and nack codes are protocol outcomes told to a peer, not errors of
 * the process: the sessions send them directly and nothing throws them. The
 * docs document all four tables (docs/devices.md, docs/dashboards.md,
 * docs/operations.md); test/docs/readme-contract.test.ts keeps them in step
 * with this file.
 */

/**
 * Wire error codes a device may receive in `{"nack":..,"error":..}`
 * (SPEC: Device protocol), as a runtime list the type derives from, so code
 * and tests can enumerate them.
 */
export const WIRE_ERROR_CODES = [
  'invalid_json', // not a JSON object, or a binary frame; `nack` is null
  'invalid_message', // a JSON object that does not follow the protocol; rejected for good
  'rate_limited', // over `msgsPerSec`/`burst`; comes with `retryAfterMs`
  'quota_exceeded', // over `msgsPerDay`, until 00:00 UTC
] as const;

/** One of {@link WIRE_ERROR_CODES}. */
export type WireErrorCode = (typeof WIRE_ERROR_CODES)[number];

/** CLI exit codes, documented in docs/operations.md ("Errors and exit codes"). */
export const EXIT = {
  /** Success; also `serve` stopped by a signal, and `--help`. */
  OK: 0,
  /** An unexpected failure (not a {@link FleethubError}): a bug. */
  INTERNAL: 1,
  /** Bad command line: unknown command or option, bad option value. */
  USAGE: 2,
  /** No CA, no server certificate, or no such device. */
  NOT_FOUND: 3,
  /** The command would replace or repeat something, or the PKI folder is locked. */
  CONFLICT: 4,
  /** Invalid device id, CSR or token. */
  INVALID_INPUT: 5,
  /** The PKI folder or the store's data folder cannot be used. */
  FILESYSTEM: 6,
  /** Bad config file. */
  CONFIG: 7,
  /** A listener cannot bind its port. */
  NETWORK: 8,
  /** `fleethub sim`: a message was lost. */
  LOST_MESSAGES: 9,
  /** `fleethub device command`: the device answered `ok: false` (SPEC: exit 10). */
  COMMAND_FAILED: 10,
  /** `fleethub device command`: the device did not answer within `timeoutMs` (SPEC: exit 11). */
  COMMAND_TIMED_OUT: 11,
  /** `fleethub device command`: the device did not come online within the ttl, or the connection dropped after it was sent (SPEC: exit 12). */
  COMMAND_NOT_DELIVERED: 12,
  /** `fleethub device command`: the hub refused the command (not on the allow-list, bad args, rate limited, queue full). */
  COMMAND_REFUSED: 13,
} as const;

/**
 * WebSocket close codes the hub sends. SPEC fixes 1001, 1008, 1009, 4001,
 * 4002 and 4029 (devices) and 4401 (dashboards); 1011 (RFC 6455 §7.4.1),
 * 4008 and 4409 are the hub's own, documented in docs/devices.md and
 * docs/dashboards.md.
 */
export const CLOSE = {
  /**
   * RFC 6455 §7.4.1 going away: the hub is shutting down. Devices get it
   * after the readings already taken are stored and acked; dashboards, and
   * an upgrade that completes during shutdown, get it at once.
   */
  GOING_AWAY: 1001,
  /**
   * RFC 6455 §7.4.1 policy violation: a device sent `maxInvalidInRow`
   * invalid messages in a row (each nacked `invalid_json`/`invalid_message`),
   * or a dashboard sent too many invalid or forbidden requests in a row.
   * A device's readings already stored are acked first.
   */
  POLICY: 1008,
  /**
   * RFC 6455 §7.4.1 message too big: a frame over the device's
   * `maxPayloadBytes` or the console's `maxClientPayloadBytes`. `ws` sends it
   * itself (its `maxPayload`); the hub records the close under this code.
   */
  TOO_BIG: 1009,
  /**
   * RFC 6455 §7.4.1 internal error: the store failed to make a device's
   * readings durable. Nothing unstored was acked; the device resends them
   * after reconnecting.
   */
  INTERNAL_ERROR: 1011,
  /**
   * RFC 6455 §7.4.1 try again later: a cluster hub has had no JetStream
   * quorum for `quorumLossMs` (SPEC: Cluster mode), or its device was not
   * claimed cluster-wide. Nothing unstored was acked; the device reconnects
   * and the load balancer sends it to a hub that can store.
   */
  TRY_AGAIN_LATER: 1013,
  /** A connected device's certificate is on the CRL just loaded (SPEC: within 5 s of `device revoke`). */
  REVOKED: 4001,
  /** The device connected again: the older connection is closed, the newer one kept. */
  REPLACED: 4002,
  /** SPEC: Provisioning by claim: the `provisionError` was sent; the device must not retry before `retryAfterMs`, if any. */
  PROVISION_REFUSED: 4003,
  /**
   * A device kept sending through `maxRefusedInRow` nacks in a row
   * (`rate_limited` or `quota_exceeded`), or a dashboard kept sending past
   * `maxClientMessagesPerSec`. A device's readings already stored are acked
   * first.
   */
  RATE_LIMITED: 4029,
  /** Console: a dashboard read nothing for `stalledCloseMs` while the hub had data for it. */
  DASHBOARD_STALLED: 4008,
  /** Console: the token already has `maxConnectionsPerToken` dashboards open. */
  TOO_MANY_DASHBOARDS: 4409,
  /**
   * Console: no `{"auth":..}` within `authTimeoutMs`, a first message that
   * is not auth, a bad or expired token, a token that expired while
   * connected, one that no longer verifies after `token.key` changed, or an
   * auth from an IP past `authFailuresPerIp` refusals in its window (refused
   * without reading the token).
   */
  UNAUTHORIZED: 4401,
} as const;

/**
 * How the console refuses or ends one connection: a WebSocket close
 * (`close`), an HTTP answer before any WebSocket exists (`http`), or a drop
 * without a word (`drop`: a socket refused before TLS, a peer that stopped
 * answering pings).
 */
export type DashboardReasonSpec =
  | { readonly kind: 'close'; readonly code: number; readonly text: string; readonly metric: string }
  | { readonly kind: 'http'; readonly status: number; readonly text: string; readonly metric: string }
  | { readonly kind: 'drop'; readonly text: string; readonly metric: string };

/**
 * Every way the console refuses or ends a connection, keyed by reason, so a
 * call site names only the reason (`session.close('auth_timeout')`) and the
 * code, the text sent to the peer and the metric label cannot disagree.
 * `http` and `drop` rows count in `fleethub_dashboard_refused_total`,
 * `close` rows (and `ping_timeout`) in `fleethub_dashboard_closed_total`,
 * each under its `metric` label. The README's dashboard tables list exactly
 * these codes and statuses (test/docs/readme-contract.test.ts).
 */
export const DASHBOARD_REASONS = {
  // Before TLS: the console's connection gates (the socket is closed, nothing is sent).
  max_sockets: { kind: 'drop', text: 'console.maxSockets open sockets already', metric: 'max_sockets' },
  max_sockets_per_ip: { kind: 'drop', text: 'console.maxSocketsPerIp open sockets from this IP already', metric: 'max_sockets_per_ip' },
  new_sockets_per_ip: { kind: 'drop', text: 'over console.newSocketsPerIpPerSec from this IP', metric: 'new_sockets_per_ip' },
  tls_failed: { kind: 'drop', text: 'TLS handshake failed or not finished within console.handshakeTimeoutMs', metric: 'tls' },
  idle: { kind: 'drop', text: 'no request within console.idleTimeoutMs of the TLS handshake', metric: 'idle' },

  // The upgrade, before any WebSocket exists (SPEC: Dashboard protocol, 403 for a foreign Origin).
  origin: { kind: 'http', status: 403, text: 'Forbidden', metric: 'origin' },
  path: { kind: 'http', status: 404, text: 'Not Found', metric: 'path' },
  capacity: { kind: 'http', status: 503, text: 'Service Unavailable', metric: 'capacity' },
  shutting_down: { kind: 'http', status: 503, text: 'Service Unavailable', metric: 'shutting_down' },

  // History requests (SPEC: History, GET /v1/devices/<id>/readings), answered with `{"error":<metric without history_>,"message":..}`.
  history_unauthorized: { kind: 'http', status: 401, text: 'Unauthorized', metric: 'history_unauthorized' },
  history_forbidden: { kind: 'http', status: 403, text: 'Forbidden', metric: 'history_forbidden' },
  history_bad_request: { kind: 'http', status: 400, text: 'Bad Request', metric: 'history_bad_request' },
  history_busy: { kind: 'http', status: 503, text: 'Service Unavailable', metric: 'history_busy' },
  history_store_failed: { kind: 'http', status: 503, text: 'Service Unavailable', metric: 'history_store_failed' },

  // Closes of an open dashboard WebSocket.
  auth_timeout: { kind: 'close', code: CLOSE.UNAUTHORIZED, text: 'auth timeout', metric: 'auth_timeout' },
  auth_missing: { kind: 'close', code: CLOSE.UNAUTHORIZED, text: 'first message must be {"auth":token}', metric: 'auth_missing' },
  token_invalid: { kind: 'close', code: CLOSE.UNAUTHORIZED, text: 'invalid token', metric: 'token_invalid' },
  token_expired: { kind: 'close', code: CLOSE.UNAUTHORIZED, text: 'token expired', metric: 'token_expired' },
  token_revoked: { kind: 'close', code: CLOSE.UNAUTHORIZED, text: 'token revoked', metric: 'token_revoked' },
  auth_throttled: { kind: 'close', code: CLOSE.UNAUTHORIZED, text: 'too many failed auth attempts; try later', metric: 'auth_throttled' },
  token_connections: { kind: 'close', code: CLOSE.TOO_MANY_DASHBOARDS, text: 'too many dashboards for this token', metric: 'token_connections' },
  rate_limited: { kind: 'close', code: CLOSE.RATE_LIMITED, text: 'message rate exceeded', metric: 'rate_limited' },
  invalid_messages: { kind: 'close', code: CLOSE.POLICY, text: 'too many invalid messages', metric: 'invalid_messages' },
  too_big: { kind: 'close', code: CLOSE.TOO_BIG, text: 'frame over console.maxClientPayloadBytes', metric: 'too_big' },
  stalled: { kind: 'close', code: CLOSE.DASHBOARD_STALLED, text: 'dashboard read nothing', metric: 'stalled' },
  shutdown: { kind: 'close', code: CLOSE.GOING_AWAY, text: 'hub shutting down', metric: 'shutdown' },
  ping_timeout: { kind: 'drop', text: 'no pong for a whole console.pingIntervalMs', metric: 'ping_timeout' },
} as const satisfies Record<string, DashboardReasonSpec>;

/** A key of {@link DASHBOARD_REASONS}. */
export type DashboardReason = keyof typeof DASHBOARD_REASONS;

/** The reasons that end an open dashboard WebSocket with a close frame. */
export type DashboardCloseReason = { [K in DashboardReason]: (typeof DASHBOARD_REASONS)[K] extends { kind: 'close' } ? K : never }[DashboardReason];

/** The reasons that answer an upgrade with an HTTP status. */
export type DashboardHttpReason = { [K in DashboardReason]: (typeof DASHBOARD_REASONS)[K] extends { kind: 'http' } ? K : never }[DashboardReason];

interface ErrorSpec {
  /** Public text: safe to print, names no internal path or stack. */
  readonly message: string;
  /** The exit code a CLI command ends with when this error reaches it. */
  readonly exitCode: number;
}

/**
 * Every error fleethub raises in-process, each with its CLI exit code. An
 * error that is not one of these ends a command with {@link EXIT.INTERNAL};
 * a bad command line that commander itself rejects ends with
 * {@link EXIT.USAGE}.
 */
export const ERRORS = {
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

  // Dashboard tokens: verifyToken throws these; a dashboard session turns them into close 4401.
  FH_ERR_TOKEN_INVALID: { message: 'invalid token', exitCode: EXIT.INVALID_INPUT },
  FH_ERR_TOKEN_EXPIRED: { message: 'token expired', exitCode: EXIT.INVALID_INPUT },

  // Configuration and start-up
  FH_ERR_CONFIG: { message: 'invalid configuration', exitCode: EXIT.CONFIG },
  FH_ERR_LISTEN: { message: 'cannot listen', exitCode: EXIT.NETWORK },
  FH_ERR_STORE_IO: { message: 'store unavailable', exitCode: EXIT.FILESYSTEM },

  // Simulator
  FH_ERR_LOST_MESSAGES: { message: 'messages were lost', exitCode: EXIT.LOST_MESSAGES },

  // Commands and desired configuration through the console (`fleethub device command`, `device config`)
  FH_ERR_CONSOLE: { message: 'cannot reach the console', exitCode: EXIT.NETWORK },
  FH_ERR_CONFIG_REFUSED: { message: 'the hub refused the configuration', exitCode: EXIT.INVALID_INPUT },
  FH_ERR_COMMAND_FAILED: { message: 'the command failed', exitCode: EXIT.COMMAND_FAILED },
  FH_ERR_COMMAND_TIMED_OUT: { message: 'the command timed out', exitCode: EXIT.COMMAND_TIMED_OUT },
  FH_ERR_COMMAND_NOT_DELIVERED: { message: 'the command expired or was lost', exitCode: EXIT.COMMAND_NOT_DELIVERED },
  FH_ERR_COMMAND_REFUSED: { message: 'the hub refused the command', exitCode: EXIT.COMMAND_REFUSED },
} as const satisfies Record<string, ErrorSpec>;

/** A code from {@link ERRORS}. */
export type ErrorCode = keyof typeof ERRORS;

/**
 * An expected failure with a registered code. `message` is safe to show a
 * user; anything internal goes in `cause`.
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
