/**
 * The PROXY protocol step of the device listener (SPEC: Cluster mode,
 * `device.proxyProtocol.trusted`), between the TCP accept and TLS:
 *
 *   from a trusted load balancer:  read the header ──▶ gates on its address ──▶ TLS
 *   from anywhere else:            gates ──▶ peek: a header? refuse ──▶ TLS
 *
 * A trusted address must send a header (HAProxy `send-proxy-v2`, or v1);
 * without one the connection is refused, so a misconfigured balancer never
 * makes every device count as one IP. An untrusted address that sends one
 * is refused explicitly (it would otherwise reach TLS as garbage), so no
 * one can choose the address the limits see. Reading a header has a
 * deadline and a size limit. The bytes after the header are put back
 * (`unshift`) for the TLS server, which reads what the raw socket already
 * buffered before its own reads.
 *
 * When no address is trusted (the default) the listener skips this step
 * entirely: the accept path is what it was.
 */
import type { Socket } from 'node:net';
import type { Logger } from '../log.js';
import type { Counter } from '../metrics.js';
import type { ProxyProtocolConfig } from './config.js';
import { decodeProxyHeader, looksLikeProxyHeader } from './proxy-header.js';
import { parseTrustedRange, TrustedProxies, type TrustedRange } from './trusted-proxies.js';

/** Why the step refused a connection, as the `reason` label of `fleethub_device_connections_refused_total`. */
export type ProxyRefusal = 'proxy_header_missing' | 'proxy_header_untrusted' | 'proxy_header_invalid' | 'proxy_header_too_large' | 'proxy_header_timeout';

/** What the listener does at each end of the step (see {@link ProxyProtocolStep.accept}). */
export interface ProxyStepHandlers {
  /** Applies the connection gates to `ip`; false when refused (the step then destroys the socket). */
  readonly admit: (socket: Socket, ip: string) => boolean;
  /** The connection goes on to TLS. */
  readonly accepted: (socket: Socket) => void;
}

/** Where the step counts and reports its refusals. */
export interface ProxyStepReporting {
  /** `fleethub_device_connections_refused_total`, labelled with a {@link ProxyRefusal}. */
  readonly refused: Counter;
  readonly log: Logger;
}

/** How the step ended for one connection. */
export type ProxyOutcome =
  /** Go on to TLS; `remoteAddress` is the one the gates and logs use. */
  | { readonly kind: 'accepted'; readonly remoteAddress: string }
  | { readonly kind: 'refused'; readonly reason: ProxyRefusal; readonly detail?: string }
  /** The peer closed (or the listener destroyed the socket) first. */
  | { readonly kind: 'closed' };

const EMPTY = Buffer.alloc(0);

function ignoreError(): void {}

/** The key a connection has on both its raw and its TLS socket (the same TCP peer). */
function peerKey(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}

/** The PROXY protocol step; one per device listener. */
export class ProxyProtocolStep {
  readonly #config: ProxyProtocolConfig;
  readonly #reporting: ProxyStepReporting;
  readonly #trusted: TrustedProxies;
  /** Sockets still in this step, destroyed by {@link close}. */
  readonly #pending = new Set<Socket>();
  /** Original client address by the proxied connection's own peer (`addr|port`), while it is open. */
  readonly #sources = new Map<string, string>();

  constructor(config: ProxyProtocolConfig, reporting: ProxyStepReporting) {
    this.#config = config;
    this.#reporting = reporting;
    this.#trusted = new TrustedProxies(config.trusted.map((entry) => parseTrustedRange(entry) as TrustedRange));
  }

  /** False when no address is trusted: the listener then skips the step. */
  get enabled(): boolean {
    return this.#trusted.size > 0;
  }

  /** True when `address` must send a header. */
  trusts(address: string | undefined): boolean {
    return this.#trusted.has(address);
  }

  /**
   * The client address a PROXY header gave for this connection (its raw or
   * its TLS socket), or the socket's own address when it had none.
   */
  addressOf(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string | undefined {
    return this.#sources.get(peerKey(socket)) ?? socket.remoteAddress;
  }

  /**
   * Runs the step for a new connection: from a trusted address, the header
   * first and then the gates on the address it gives; from any other, the
   * gates on the socket's address first and then the check for a header.
   */
  accept(socket: Socket, handlers: ProxyStepHandlers): void {
    const end = (outcome: ProxyOutcome, admitted: boolean): void => {
      if (outcome.kind === 'accepted' && (admitted || handlers.admit(socket, outcome.remoteAddress))) {
        handlers.accepted(socket);
        return;
      }
      if (outcome.kind === 'refused') {
        this.#reporting.refused.inc({ reason: outcome.reason });
        this.#reporting.log.log('debug', 'device.proxy_refused', { reason: outcome.reason, ip: socket.remoteAddress, detail: outcome.detail });
      }
      socket.destroy();
    };
    if (this.trusts(socket.remoteAddress)) this.readHeader(socket, (outcome) => end(outcome, false));
    else if (handlers.admit(socket, socket.remoteAddress ?? 'unknown')) this.refuseHeader(socket, (outcome) => end(outcome, true));
    else socket.destroy();
  }

  /** From a trusted address: reads the header and calls back with the client's address. */
  readHeader(socket: Socket, done: (outcome: ProxyOutcome) => void): void {
    const maxBytes = this.#config.maxHeaderBytes;
    this.#read(socket, done, (data) => {
      const header = decodeProxyHeader(data, maxBytes);
      switch (header.kind) {
        case 'incomplete':
          return undefined;
        case 'none':
          return { kind: 'refused', reason: 'proxy_header_missing' };
        case 'too_large':
          return { kind: 'refused', reason: 'proxy_header_too_large' };
        case 'invalid':
          return { kind: 'refused', reason: 'proxy_header_invalid', detail: header.reason };
        case 'header': {
          const rest = data.subarray(header.length);
          if (rest.length > 0) socket.unshift(rest);
          const own = socket.remoteAddress ?? 'unknown';
          if (header.source === null) return { kind: 'accepted', remoteAddress: own };
          const key = peerKey(socket);
          this.#sources.set(key, header.source.address);
          socket.once('close', () => this.#sources.delete(key));
          return { kind: 'accepted', remoteAddress: header.source.address };
        }
      }
    });
  }

  /** From an untrusted address: looks at the first bytes and refuses a PROXY header. */
  refuseHeader(socket: Socket, done: (outcome: ProxyOutcome) => void): void {
    this.#read(socket, done, (data) => {
      const verdict = looksLikeProxyHeader(data);
      if (verdict === 'maybe') return undefined;
      if (verdict === 'yes') return { kind: 'refused', reason: 'proxy_header_untrusted' };
      socket.unshift(data);
      return { kind: 'accepted', remoteAddress: socket.remoteAddress ?? 'unknown' };
    });
  }

  /** Destroys the sockets still in the step (the listener is closing). */
  close(): void {
    for (const socket of this.#pending) socket.destroy();
    this.#pending.clear();
  }

  /**
   * Reads chunks until `decide` answers (undefined: more bytes needed), the
   * deadline passes, or the socket closes. At most maxHeaderBytes are
   * buffered: past that, whatever `decide` still waits for is too large.
   */
  #read(socket: Socket, done: (outcome: ProxyOutcome) => void, decide: (data: Buffer) => ProxyOutcome | undefined): void {
    let data: Buffer = EMPTY;
    let finished = false;
    const finish = (outcome: ProxyOutcome): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      this.#pending.delete(socket);
      socket.off('readable', onReadable);
      socket.off('close', onClose);
      socket.off('error', ignoreError);
      done(outcome);
    };
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while (!finished && (chunk = socket.read() as Buffer | null) !== null) {
        data = data.length === 0 ? chunk : Buffer.concat([data, chunk]);
        const outcome = decide(data);
        if (outcome !== undefined) finish(outcome);
        else if (data.length >= this.#config.maxHeaderBytes) finish({ kind: 'refused', reason: 'proxy_header_too_large' });
      }
    };
    const onClose = (): void => finish({ kind: 'closed' });
    const timer = setTimeout(() => finish({ kind: 'refused', reason: 'proxy_header_timeout' }), this.#config.headerTimeoutMs);
    this.#pending.add(socket);
    // Until the listener takes over: a reset here must not be an unhandled 'error'.
    socket.on('error', ignoreError);
    socket.on('close', onClose);
    socket.on('readable', onReadable);
  }
}
