/**
 * `/v1/provision` on the device listener (SPEC: Provisioning by claim). A
 * device that passed the TLS handshake with its batch's claim certificate
 * sends one `{"provision":{"device","csr"}}`; it gets
 * `{"provisioned":{...}}` and a 1000 close, or `{"provisionError":{...}}`
 * and 4003. The claim CA opens this path only: the listener asks
 * {@link ProvisionEndpoint.isClaim} to refuse a claim certificate on
 * `/v1/device` and a device certificate here (403).
 *
 * Limits, each a config key: requests per batch and per source IP per
 * minute (token buckets; over them `rate_limited` with `retryAfterMs`; in
 * cluster mode the ledger also holds the batch's rate for every hub
 * together, and answers `rate_limited` itself past it), the
 * time to send the request, and its size (ws closes with 1009 past it).
 * Every issuance is one audit line (`provision.issued`).
 */
import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { CLOSE } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { ProvisioningLedger, ProvisionRefusal } from '../../pki/provisioning.js';
import type { HubMetrics } from '../hub-metrics.js';
import { TokenBucket } from '../token-bucket.js';
import type { ProvisioningConfig } from './provisioning-config.js';

/** The provisioning path (SPEC: `wss://host:8443/v1/provision`). */
export const PROVISION_PATH = '/v1/provision';

/** Source addresses whose rate buckets are kept at once; past it, buckets that are full again are dropped. */
export const MAX_TRACKED_IPS = 10_000;

/** `/v1/provision`, with or without a query string. */
export function isProvisionPath(url: string | undefined): boolean {
  return url !== undefined && url.startsWith(PROVISION_PATH) && (url.length === PROVISION_PATH.length || url[PROVISION_PATH.length] === '?');
}

/** Every `provisionError` code (SPEC). */
export type ProvisionErrorCode = ProvisionRefusal | 'rate_limited';

/** A parsed request, or why it is none. */
export type ParsedProvision = { readonly device: string; readonly csr: string } | { readonly invalid: string };

/** Pure: parses the one message a device sends on `/v1/provision`. Anything but a `provision` object with two strings is invalid. */
export function parseProvisionMessage(text: string): ParsedProvision {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { invalid: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { invalid: 'not a JSON object' };
  const keys = Object.keys(value);
  const body = (value as Record<string, unknown>).provision;
  if (keys.length !== 1 || typeof body !== 'object' || body === null || Array.isArray(body)) return { invalid: 'not {"provision":{...}}' };
  const { device, csr } = body as Record<string, unknown>;
  if (typeof device !== 'string' || typeof csr !== 'string' || Object.keys(body).length !== 2) return { invalid: 'provision needs "device" and "csr" strings only' };
  return { device, csr };
}

/** What the endpoint works with. */
export interface ProvisionEndpointOptions {
  readonly config: ProvisioningConfig;
  /** The claim CA's certificate (`claim-ca.crt`). */
  readonly claimCaPem: string;
  readonly ledger: ProvisioningLedger;
  readonly metrics: HubMetrics;
  readonly log: Logger;
  /** ms clock of the rate buckets. @defaultValue performance.now */
  readonly now?: () => number;
}

/** Serves `/v1/provision`; {@link close} ends every open request. */
export class ProvisionEndpoint {
  readonly #options: ProvisionEndpointOptions;
  readonly #claimCa: X509Certificate;
  readonly #wss: WebSocketServer;
  readonly #batchBuckets = new Map<string, TokenBucket>();
  readonly #ipBuckets = new Map<string, TokenBucket>();
  readonly #open = new Set<WebSocket>();
  #closed = false;

  constructor(options: ProvisionEndpointOptions) {
    this.#options = options;
    this.#claimCa = new X509Certificate(options.claimCaPem);
    // One small frame, no compression, no subprotocol echo: a device sends one request and reads one reply.
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: options.config.maxRequestBytes, clientTracking: false, perMessageDeflate: false, autoPong: true });
  }

  /** True when the socket's client certificate was issued by the claim CA (the TLS handshake verified the chain). */
  isClaim(socket: TLSSocket): boolean {
    const cert = socket.getPeerX509Certificate();
    return cert !== undefined && cert.checkIssued(this.#claimCa);
  }

  /** Takes over an upgrade of `/v1/provision` by a claim certificate: batch = its CN, `ip` for the per-IP limit and the audit line. */
  upgrade(req: IncomingMessage, socket: TLSSocket, head: Buffer, batch: string, claimSerial: string, ip: string): void {
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      if (this.#closed) return void ws.close(CLOSE.GOING_AWAY);
      this.#open.add(ws);
      const timer = setTimeout(() => {
        this.#options.metrics.provisioning.inc({ outcome: 'timeout' });
        ws.close(CLOSE.POLICY);
      }, this.#options.config.requestTimeoutMs);
      ws.once('close', () => {
        clearTimeout(timer);
        this.#open.delete(ws);
      });
      ws.on('error', () => ws.terminate());
      ws.once('message', (data, isBinary) => {
        clearTimeout(timer);
        // One request per connection: anything after it is read (so the close handshake completes) and ignored.
        void this.#answer(ws, isBinary ? '' : String(data), batch, claimSerial, ip);
      });
    });
  }

  /** Ends open requests with 1001. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const ws of this.#open) ws.close(CLOSE.GOING_AWAY);
    this.#wss.close();
  }

  async #answer(ws: WebSocket, text: string, batch: string, claimSerial: string, ip: string): Promise<void> {
    const { metrics, log, ledger } = this.#options;
    const parsed = parseProvisionMessage(text);
    if ('invalid' in parsed) return this.#refuse(ws, 'csr_invalid', batch, null, ip, parsed.invalid);
    const wait = this.#rateLimit(batch, ip);
    if (wait > 0) return this.#refuse(ws, 'rate_limited', batch, parsed.device, ip, 'over the batch or address rate', wait);
    let outcome;
    try {
      outcome = await ledger.provision({ batch, claimSerial, device: parsed.device, csrPem: parsed.csr });
    } catch (err) {
      // The PKI folder could not be written (disk, lock): nothing was issued; the device retries later.
      log.log('error', 'provision.failed', { batch, id: parsed.device, ip, error: err instanceof Error ? err.message : String(err) });
      return this.#refuse(ws, 'rate_limited', batch, parsed.device, ip, 'the hub cannot issue now', this.#options.config.requestTimeoutMs);
    }
    if (!outcome.ok) return this.#refuse(ws, outcome.error, batch, parsed.device, ip, outcome.detail, 'retryAfterMs' in outcome ? Math.ceil(outcome.retryAfterMs) : undefined);
    metrics.provisioning.inc({ outcome: outcome.repeat ? 'repeat' : 'issued' });
    // The audit line: who got which certificate through which batch, from where.
    log.log('info', 'provision.issued', { batch, id: outcome.device, serial: outcome.serial, notAfter: outcome.notAfter.toISOString(), ip, repeat: outcome.repeat || undefined });
    this.#send(ws, { provisioned: { device: outcome.device, cert: outcome.certPem, serial: outcome.serial, notAfter: outcome.notAfter.getTime() } }, 1000);
  }

  #refuse(ws: WebSocket, error: ProvisionErrorCode, batch: string, id: string | null, ip: string, detail: string, retryAfterMs?: number): void {
    this.#options.metrics.provisioning.inc({ outcome: error });
    this.#options.log.log('warn', 'provision.refused', { batch, id: id ?? undefined, ip, error, detail });
    const body = retryAfterMs === undefined ? { error } : { error, retryAfterMs };
    this.#send(ws, { provisionError: body }, CLOSE.PROVISION_REFUSED);
  }

  #send(ws: WebSocket, message: unknown, code: number): void {
    if (ws.readyState !== ws.OPEN) return;
    ws.send(JSON.stringify(message), () => ws.close(code));
  }

  /** 0 when both the batch's and the address's bucket had a token, else the ms to wait (nothing taken from either then). */
  #rateLimit(batch: string, ip: string): number {
    const { perBatchPerMinute, perIpPerMinute } = this.#options.config;
    const now = (this.#options.now ?? performance.now.bind(performance))();
    const batchBucket = this.#bucket(this.#batchBuckets, batch, perBatchPerMinute);
    const ipBucket = this.#bucket(this.#ipBuckets, ip, perIpPerMinute);
    // take() takes nothing from a bucket without a whole token and says how long until it has one.
    const batchWait = batchBucket.tokens < 1 ? batchBucket.take(now) : 0;
    const ipWait = ipBucket.tokens < 1 ? ipBucket.take(now) : 0;
    if (batchWait > 0 || ipWait > 0) return Math.max(batchWait, ipWait);
    batchBucket.take(now);
    ipBucket.take(now);
    return 0;
  }

  #bucket(map: Map<string, TokenBucket>, key: string, perMinute: number): TokenBucket {
    let bucket = map.get(key);
    if (bucket === undefined) {
      if (map.size >= MAX_TRACKED_IPS) {
        // Bounded memory: buckets that refilled completely carry no state worth keeping.
        for (const [k, b] of map) if (b.tokens >= perMinute) map.delete(k);
        if (map.size >= MAX_TRACKED_IPS) map.delete(map.keys().next().value as string);
      }
      bucket = new TokenBucket({ ratePerSec: perMinute / 60, burst: perMinute, ...(this.#options.now === undefined ? {} : { now: this.#options.now }) });
      map.set(key, bucket);
    }
    return bucket;
  }
}
