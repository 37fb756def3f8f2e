/**
 * Names in NATS: the readings stream, its subjects, the cursor bucket, and
 * how a device id or a cursor name becomes one subject token or KV key.
 *
 * `.` separates subject tokens and `*`, `>` are wildcards, so a device id
 * (`[A-Za-z0-9._-]`, SPEC) cannot be a token as is: every byte outside
 * `[A-Za-z0-9_-]` is written `=XX` (its hex), which is reversible, keeps
 * distinct ids distinct, and is valid both in a subject and in a KV key.
 * Pure, no I/O.
 */

/** What every stream, subject and bucket of one fleethub cluster is named from. */
export const DEFAULT_NATS_PREFIX = 'fleethub';
const PREFIX = /^[A-Za-z0-9_-]{1,32}$/;
const PLAIN = /^[A-Za-z0-9_-]$/;

/** The names one fleethub cluster uses in NATS. */
export interface NatsNames {
  /** The readings stream. */
  readonly stream: string;
  /** Subject prefix of readings: `<prefix>.readings.<device token>`. */
  readonly readingsPrefix: string;
  /** The stream's subject filter (`<prefix>.readings.>`). */
  readonly readingsFilter: string;
  /** The KV bucket of reader cursors (sink positions). */
  readonly cursorBucket: string;
  /** The KV bucket of hub heartbeats. */
  readonly hubBucket: string;
  /** The KV bucket of seq resets (seq-reset-bucket.ts). */
  readonly seqResetBucket: string;
}

/** The names under `prefix`; throws on a prefix NATS cannot carry. */
export function natsNames(prefix: string = DEFAULT_NATS_PREFIX): NatsNames {
  if (!PREFIX.test(prefix)) throw new Error(`a NATS name prefix must be 1–32 of A-Z a-z 0-9 _ -, got ${JSON.stringify(prefix)}`);
  return Object.freeze({
    stream: `${prefix}-readings`,
    readingsPrefix: `${prefix}.readings.`,
    readingsFilter: `${prefix}.readings.>`,
    cursorBucket: `${prefix}-cursors`,
    hubBucket: `${prefix}-hubs`,
    seqResetBucket: `${prefix}-seq-resets`,
  });
}

/** `name` as one subject token / KV key: bytes outside `[A-Za-z0-9_-]` become `=XX`. */
export function encodeToken(name: string): string {
  let out = '';
  for (const char of name) {
    if (PLAIN.test(char)) {
      out += char;
      continue;
    }
    for (const byte of Buffer.from(char, 'utf8')) out += `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The name {@link encodeToken} encoded; throws on a token it cannot have made. */
export function decodeToken(token: string): string {
  if (!/^(?:[A-Za-z0-9_-]|=[0-9A-F]{2})+$/.test(token)) throw new Error(`not an encoded name: ${JSON.stringify(token)}`);
  const bytes: number[] = [];
  for (let i = 0; i < token.length; ) {
    if (token[i] === '=') {
      bytes.push(Number.parseInt(token.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      bytes.push(token.charCodeAt(i));
      i += 1;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
