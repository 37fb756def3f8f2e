/**
 * Dashboard tokens (SPEC: `fleethub token create`, Dashboard protocol).
 *
 * A token is `fh1.<claims>.<mac>`: the version, the base64url JSON claims
 * `{"id","dev","iat","exp","scp"}` (id, device glob, issued-at and expiry in
 * ms since epoch, scopes; a token without `scp` is `read` only, so every
 * token made before scopes existed stays read-only), and the base64url HMAC-SHA256 of `fh1.<claims>` under the
 * 32-byte `token.key`. URL-safe, about 130 characters, no padding. The MAC is
 * checked in constant time before the claims are even parsed, so a forged
 * token learns nothing from the hub. Tokens are bearer credentials sent as the
 * first WebSocket message, never as cookies (no ambient authority a foreign
 * page could ride on) and never in URLs (which end up in logs and history).
 *
 * Pure functions only; the key file lives in `token-key-file.ts`.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { parseDurationMs } from '../../duration.js';
import { FleethubError } from '../../errors.js';
import { isValidGlob } from './device-glob.js';

/** The token format version, its first dot-separated part. */
export const TOKEN_VERSION = 'fh1';
/** Bytes of the HMAC key in `token.key`. */
export const TOKEN_KEY_BYTES = 32;
/** Longest token string accepted; longer input is refused before any crypto. */
export const MAX_TOKEN_LENGTH = 1024;
/** `--ttl` when none is given: an hour, so a leaked token is soon useless. @defaultValue 1 h */
export const DEFAULT_TOKEN_TTL_MS = 60 * 60 * 1000;
/** Longest `--ttl` accepted: 30 days, long enough for a wall display, short enough that forgotten tokens die. */
export const MAX_TOKEN_TTL_MS = 30 * 24 * 60 * 60 * 1000;

/** What a token allows (SPEC: Token scopes): `read` the stream, send `command`s, set desired `config`. */
export const TOKEN_SCOPES = ['read', 'command', 'config'] as const;

/** One of {@link TOKEN_SCOPES}. */
export type TokenScope = (typeof TOKEN_SCOPES)[number];

/** `--scope` when none is given: a dashboard token never controls devices unless it says so. @defaultValue read */
export const DEFAULT_TOKEN_SCOPES: readonly TokenScope[] = Object.freeze(['read']);

function isScopeList(value: unknown): value is TokenScope[] {
  return Array.isArray(value) && value.length > 0 && value.length <= TOKEN_SCOPES.length
    && value.every((s, i) => (TOKEN_SCOPES as readonly unknown[]).includes(s) && value.indexOf(s) === i);
}

/** Parses `--scope read,command,config`; throws FH_ERR_INVALID_ARGUMENT for an unknown or repeated scope. */
export function parseScopes(text: string): TokenScope[] {
  const scopes = text.split(',').map((s) => s.trim());
  if (!isScopeList(scopes)) {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `--scope must be a comma-separated list of ${TOKEN_SCOPES.join(', ')}, got ${JSON.stringify(text)}`);
  }
  return scopes;
}

/** What a verified token says. */
export interface TokenClaims {
  /** Random id, for logs and the per-token connection limit. */
  readonly id: string;
  /** The device glob the token may see. */
  readonly devices: string;
  /** ms since epoch. */
  readonly issuedAt: number;
  /** ms since epoch; the token (and any dashboard using it) ends here. */
  readonly expiresAt: number;
  /** What it allows. */
  readonly scopes: readonly TokenScope[];
}

/**
 * Parses a `--ttl` such as `90s`, `30m`, `1h` or `7d` into milliseconds
 * (the one duration grammar, src/duration.ts; a unit is required).
 * Throws FH_ERR_INVALID_ARGUMENT for anything else, for zero, and past
 * {@link MAX_TOKEN_TTL_MS}.
 */
export function parseTtl(text: string): number {
  const ms = parseDurationMs(text);
  if (ms === null) {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `--ttl must be a number and a unit (ms, s, m, h, d), e.g. 30m, 1h, 7d; got ${JSON.stringify(text)}`);
  }
  if (ms <= 0) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `--ttl must be positive, got ${text}`);
  if (ms > MAX_TOKEN_TTL_MS) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `--ttl must be at most 30d, got ${text}`);
  return ms;
}

/** What {@link signToken} needs. */
export interface TokenRequest {
  /** Device glob the token may see. */
  readonly devices: string;
  /** Lifetime in ms, at most {@link MAX_TOKEN_TTL_MS}. @defaultValue {@link DEFAULT_TOKEN_TTL_MS} */
  readonly ttlMs?: number;
  /** Clock, for tests. @defaultValue Date.now() */
  readonly now?: number;
  /** @defaultValue {@link DEFAULT_TOKEN_SCOPES} */
  readonly scopes?: readonly TokenScope[];
}

function mac(key: Uint8Array, signed: string): Buffer {
  return createHmac('sha256', key).update(signed).digest();
}

/** Signs a new token. Throws FH_ERR_INVALID_ARGUMENT for a bad glob or lifetime. */
export function signToken(key: Uint8Array, request: TokenRequest): { token: string; claims: TokenClaims } {
  if (!isValidGlob(request.devices)) {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `--devices must be a glob of A-Z a-z 0-9 . _ - * ? (at most 128 characters), got ${JSON.stringify(request.devices)}`);
  }
  const ttlMs = request.ttlMs ?? DEFAULT_TOKEN_TTL_MS;
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0 || ttlMs > MAX_TOKEN_TTL_MS) {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `token lifetime must be between 1 ms and 30 days, got ${ttlMs} ms`);
  }
  const scopes = request.scopes ?? DEFAULT_TOKEN_SCOPES;
  if (!isScopeList(scopes)) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `token scopes must be some of ${TOKEN_SCOPES.join(', ')}`);
  const now = request.now ?? Date.now();
  const claims: TokenClaims = { id: randomBytes(9).toString('base64url'), devices: request.devices, issuedAt: now, expiresAt: now + ttlMs, scopes: [...scopes] };
  const body = Buffer.from(JSON.stringify({ id: claims.id, dev: claims.devices, iat: claims.issuedAt, exp: claims.expiresAt, scp: claims.scopes })).toString('base64url');
  const signed = `${TOKEN_VERSION}.${body}`;
  return { token: `${signed}.${mac(key, signed).toString('base64url')}`, claims };
}

const invalid = (): FleethubError => new FleethubError('FH_ERR_TOKEN_INVALID');

/**
 * Checks a token's version, MAC (constant time) and claims, then its expiry.
 * Throws FH_ERR_TOKEN_INVALID (malformed, tampered, other key) or
 * FH_ERR_TOKEN_EXPIRED; both close a dashboard with 4401.
 */
export function verifyToken(key: Uint8Array, token: unknown, now: number = Date.now()): TokenClaims {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) throw invalid();
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== TOKEN_VERSION) throw invalid();
  const [, body = '', sig = ''] = parts;
  if (!/^[A-Za-z0-9_-]+$/.test(body) || !/^[A-Za-z0-9_-]+$/.test(sig)) throw invalid();
  const expected = mac(key, `${TOKEN_VERSION}.${body}`);
  const given = Buffer.from(sig, 'base64url');
  // Lengths are public (always 32 for a real token); the bytes are compared in constant time.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid();
  // Only the canonical encoding: base64url decoding ignores stray low bits, which would make one MAC spell many tokens.
  if (given.toString('base64url') !== sig) throw invalid();
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (typeof raw !== 'object' || raw === null) throw invalid();
  const { id, dev, iat, exp, scp } = raw as Record<string, unknown>;
  if (typeof id !== 'string' || !isValidGlob(dev) || !Number.isSafeInteger(iat) || !Number.isSafeInteger(exp)) throw invalid();
  // No `scp`: a token from before scopes, read-only.
  if (scp !== undefined && !isScopeList(scp)) throw invalid();
  if ((exp as number) <= now) throw new FleethubError('FH_ERR_TOKEN_EXPIRED');
  return { id, devices: dev, issuedAt: iat as number, expiresAt: exp as number, scopes: scp ?? DEFAULT_TOKEN_SCOPES };
}
