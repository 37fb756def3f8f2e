/** Dashboard tokens: format, verification, tampering, expiry, --ttl parsing, and token.key on disk. */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isFleethubError } from '../../src/errors.js';
import { MAX_TOKEN_TTL_MS, parseScopes, parseTtl, signToken, verifyToken } from '../../src/hub/console/dashboard-token.js';
import { loadOrCreateTokenKey, TokenKeyFile } from '../../src/hub/console/token-key-file.js';

const key = randomBytes(32);
const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    if (isFleethubError(err)) return err.code;
    throw err;
  }
  return 'none';
};

describe('signToken / verifyToken', () => {
  it('round-trips scope and expiry in a compact URL-safe token', () => {
    const { token, claims } = signToken(key, { devices: 'site-a-*', ttlMs: 60_000, now: 1_000 });
    assert.match(token, /^fh1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    assert.ok(token.length < 200);
    assert.deepEqual(verifyToken(key, token, 2_000), claims);
    assert.equal(claims.expiresAt, 61_000);
  });

  it('refuses expired tokens with FH_ERR_TOKEN_EXPIRED', () => {
    const { token } = signToken(key, { devices: '*', ttlMs: 1_000, now: 0 });
    assert.equal(code(() => verifyToken(key, token, 1_000)), 'FH_ERR_TOKEN_EXPIRED');
  });

  it('refuses tampered, foreign and malformed tokens with FH_ERR_TOKEN_INVALID', () => {
    const { token } = signToken(key, { devices: 'd1' });
    const [v, body, sig] = token.split('.') as [string, string, string];
    const wider = Buffer.from(Buffer.from(body, 'base64url').toString().replace('"d1"', '"*"')).toString('base64url');
    const bad = [
      `${v}.${wider}.${sig}`,
      `fh2.${body}.${sig}`,
      `${v}.${body}.${sig.slice(0, -1)}`,
      `${v}.${body}`,
      signToken(randomBytes(32), { devices: 'd1' }).token,
      'x'.repeat(5000),
      '',
      42,
      null,
    ];
    for (const t of bad) assert.equal(code(() => verifyToken(key, t)), 'FH_ERR_TOKEN_INVALID', String(t).slice(0, 40));
  });

  it('refuses a bad glob or lifetime when signing', () => {
    assert.equal(code(() => signToken(key, { devices: 'a b' })), 'FH_ERR_INVALID_ARGUMENT');
    assert.equal(code(() => signToken(key, { devices: '*', ttlMs: MAX_TOKEN_TTL_MS + 1 })), 'FH_ERR_INVALID_ARGUMENT');
    assert.equal(code(() => signToken(key, { devices: '*', ttlMs: 0 })), 'FH_ERR_INVALID_ARGUMENT');
  });
});

describe('parseTtl', () => {
  it('reads s, m, h and d', () => {
    assert.equal(parseTtl('90s'), 90_000);
    assert.equal(parseTtl('30m'), 1_800_000);
    assert.equal(parseTtl('1h'), 3_600_000);
    assert.equal(parseTtl('7d'), 604_800_000);
    assert.equal(parseTtl('30d'), MAX_TOKEN_TTL_MS);
    assert.equal(parseTtl('1.5h'), 5_400_000); // the duration grammar every flag shares
  });
  it('refuses zero, past 30 days, and anything else', () => {
    for (const t of ['0m', '31d', '721h', '1', 'h', '1w', '-1h', '']) assert.equal(code(() => parseTtl(t)), 'FH_ERR_INVALID_ARGUMENT', t);
  });
});

describe('token.key', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleethub-token-key-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('is created on first use: 32 bytes, 0600, and then reused', async () => {
    const first = loadOrCreateTokenKey(dir);
    assert.equal(first.length, 32);
    assert.equal((await stat(join(dir, 'token.key'))).mode & 0o777, 0o600);
    assert.deepEqual(loadOrCreateTokenKey(dir), first);
  });

  it('is noticed when replaced: the old tokens stop verifying', async () => {
    const file = new TokenKeyFile(dir);
    const { token } = signToken(file.key(), { devices: '*' });
    assert.equal(file.refresh(), false);
    await writeFile(join(dir, 'token.key.new'), randomBytes(32), { mode: 0o600 });
    await rm(join(dir, 'token.key'));
    await writeFile(join(dir, 'token.key'), await readFile(join(dir, 'token.key.new')), { mode: 0o600 });
    assert.equal(file.refresh(), true);
    assert.equal(code(() => verifyToken(file.key(), token)), 'FH_ERR_TOKEN_INVALID');
  });

  it('reports a rotation once, whichever read sees the new key first', async () => {
    let rotations = 0;
    const file = new TokenKeyFile(dir, () => rotations++);
    const oldKey = file.key();
    await rm(join(dir, 'token.key'));
    const newKey = file.key(); // a dashboard's auth, not the poll, finds the new key
    assert.notDeepEqual(newKey, oldKey);
    assert.equal(rotations, 1);
    assert.equal(file.refresh(), false); // the poll then has nothing new to report
    assert.equal(rotations, 1);
  });

  it('refuses a truncated key file and a missing PKI folder', async () => {
    const other = await mkdtemp(join(tmpdir(), 'fleethub-token-key-'));
    try {
      await writeFile(join(other, 'token.key'), 'short');
      assert.equal(code(() => loadOrCreateTokenKey(other)), 'FH_ERR_PKI_IO');
      assert.equal(code(() => loadOrCreateTokenKey(join(other, 'missing'))), 'FH_ERR_PKI_IO');
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });
});

describe('token scopes', () => {
  /** A token signed like the hub signs, with any claims (a token from before scopes has no `scp`). */
  const craft = (claims: Record<string, unknown>): string => {
    const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return `fh1.${body}.${createHmac('sha256', key).update(`fh1.${body}`).digest('base64url')}`;
  };

  it('a token without scopes, old or new, is read-only; scopes round-trip', () => {
    const now = Date.now();
    assert.deepEqual(verifyToken(key, craft({ id: 'old', dev: '*', iat: now, exp: now + 60_000 })).scopes, ['read']);
    assert.deepEqual(verifyToken(key, signToken(key, { devices: '*' }).token).scopes, ['read']);
    assert.deepEqual(verifyToken(key, signToken(key, { devices: '*', scopes: ['read', 'command', 'config'] }).token).scopes, ['read', 'command', 'config']);
  });

  it('refuses an unknown, repeated or empty scope, signed or parsed', () => {
    const now = Date.now();
    for (const scp of [['admin'], ['read', 'read'], [], 'read']) {
      assert.equal(code(() => verifyToken(key, craft({ id: 'x', dev: '*', iat: now, exp: now + 60_000, scp }))), 'FH_ERR_TOKEN_INVALID', JSON.stringify(scp));
    }
    assert.deepEqual(parseScopes('read, command'), ['read', 'command']);
    for (const text of ['admin', 'read,read', '', 'read,']) assert.equal(code(() => parseScopes(text)), 'FH_ERR_INVALID_ARGUMENT', text);
  });
});
