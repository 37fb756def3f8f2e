/**
 * `fleethub sim --claim BATCH` (SPEC: Simulator): before streaming, every
 * simulated device provisions itself through `/v1/provision` as firmware
 * does on first boot: it makes its own P-256 key and a CSR, connects with
 * the batch's claim certificate, sends `{"provision":{...}}` and keeps the
 * certificate it gets. On `rate_limited` it waits `retryAfterMs` (with
 * jitter) and asks again. Keys stay in memory: a device provisioned by an
 * earlier run needs `fleethub provision reset <id>` (a real device keeps
 * its key in flash).
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import WebSocket from 'ws';
import { FleethubError } from '../src/errors.js';
import { createCsr } from '../src/pki/csr-builder.js';
import { pkiPaths } from '../src/pki/paths.js';
import { privateKeyPem } from '../src/pki/keys.js';
import type { DeviceCredentials } from './sim-device.js';
import { ESP32_TLS12_CIPHERS } from './sim-device-options.js';

/** Provisioning requests under way at once. */
export const CLAIM_CONCURRENCY = 16;
/** Attempts per device (rate-limited or a connection that failed) before the run gives up. */
export const CLAIM_MAX_ATTEMPTS = 20;
/** Longest wait between attempts, whatever `retryAfterMs` says. */
export const CLAIM_MAX_WAIT_MS = 30_000;
/** One exchange's deadline. */
export const CLAIM_TIMEOUT_MS = 30_000;

/** What one exchange ended with. */
type Answer = { cert: string } | { error: string; retryAfterMs?: number };

/** What {@link provisionByClaim} needs. */
export interface ClaimOptions {
  /** The device endpoint (`wss://host:8443/v1/device`); `/v1/provision` is next to it. */
  readonly url: string;
  readonly pkiDir: string;
  readonly batch: string;
  readonly ids: readonly string[];
  /** The CA certificate the hub's server certificate chains to. */
  readonly ca: string;
  readonly tls: '1.2' | '1.3';
  /** Called after each device got its certificate. */
  readonly onProgress?: (done: number, total: number) => void;
}

function provisionUrl(url: string): string {
  const u = new URL(url);
  u.pathname = '/v1/provision';
  return u.toString();
}

function exchange(url: string, context: tls.SecureContext, version: '1.2' | '1.3', body: string): Promise<Answer> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, {
      secureContext: context, minVersion: 'TLSv1.2', maxVersion: version === '1.2' ? 'TLSv1.2' : 'TLSv1.3', handshakeTimeout: CLAIM_TIMEOUT_MS,
    } as WebSocket.ClientOptions);
    let answer: Answer = { error: 'connection_failed' };
    const timer = setTimeout(() => ws.terminate(), CLAIM_TIMEOUT_MS);
    ws.on('open', () => ws.send(body));
    ws.on('message', (data) => {
      try {
        const reply = JSON.parse(String(data)) as { provisioned?: { cert?: unknown }; provisionError?: { error?: unknown; retryAfterMs?: unknown } };
        if (typeof reply.provisioned?.cert === 'string') answer = { cert: reply.provisioned.cert };
        else if (typeof reply.provisionError?.error === 'string') {
          const wait = reply.provisionError.retryAfterMs;
          answer = typeof wait === 'number' ? { error: reply.provisionError.error, retryAfterMs: wait } : { error: reply.provisionError.error };
        }
      } catch {
        answer = { error: 'invalid_reply' };
      }
    });
    ws.on('error', () => undefined);
    ws.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
  });
}

async function provisionOne(o: ClaimOptions, context: tls.SecureContext, id: string): Promise<DeviceCredentials> {
  // SPEC: the hub never makes or sees a device's private key.
  const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const body = JSON.stringify({ provision: { device: id, csr: createCsr(id, keys.publicKey, keys.privateKey) } });
  let last = '';
  for (let attempt = 1; attempt <= CLAIM_MAX_ATTEMPTS; attempt += 1) {
    const answer = await exchange(provisionUrl(o.url), context, o.tls, body);
    if ('cert' in answer) return { id, cert: answer.cert, key: privateKeyPem(keys.privateKey) };
    last = answer.error;
    if (answer.error !== 'rate_limited' && answer.error !== 'connection_failed') break;
    const base = Math.min(CLAIM_MAX_WAIT_MS, answer.retryAfterMs ?? 250 * 2 ** Math.min(attempt, 6));
    await new Promise((r) => setTimeout(r, base + Math.random() * base));
  }
  const hint = last === 'already_provisioned' ? ` (provisioned by an earlier run: fleethub provision reset ${id})` : '';
  throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `sim: device ${id} could not be provisioned through batch ${o.batch}: ${last}${hint}`);
}

/** Provisions every id through `/v1/provision` with the batch's claim certificate; returns their credentials in id order. */
export async function provisionByClaim(o: ClaimOptions): Promise<DeviceCredentials[]> {
  const paths = pkiPaths(o.pkiDir);
  let cert: string;
  let key: string;
  try {
    [cert, key] = await Promise.all([readFile(paths.claimCert(o.batch), 'utf8'), readFile(paths.claimKey(o.batch), 'utf8')]);
  } catch (err) {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `sim: no claim certificate for batch ${o.batch} in ${paths.claimsDir} (fleethub provision batch add ${o.batch})`, { cause: err });
  }
  const context = tls.createSecureContext({
    ca: o.ca, cert, key, minVersion: 'TLSv1.2', maxVersion: o.tls === '1.2' ? 'TLSv1.2' : 'TLSv1.3', ...(o.tls === '1.2' ? { ciphers: ESP32_TLS12_CIPHERS } : {}),
  });
  const out = new Array<DeviceCredentials>(o.ids.length);
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < o.ids.length) {
      const i = next++;
      out[i] = await provisionOne(o, context, o.ids[i] as string);
      done += 1;
      o.onProgress?.(done, o.ids.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CLAIM_CONCURRENCY, o.ids.length) }, worker));
  return out;
}
