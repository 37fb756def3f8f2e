/**
 * Admission of raw TCP connections, decided before any TLS work (a TLS
 * handshake costs the hub far more CPU than the client): a global cap on open
 * sockets, a cap per source IP, and a cap on new connections per IP per
 * second. Pure bookkeeping with an injectable clock; device-listener.ts and
 * console/console-listener.ts (each with its own gate and limits) call it
 * from their `net.Server` connection handlers.
 */

/** The gate's limits (from `HubConfig.device`, or the console's `maxSockets*` options). */
export interface ConnectionGateOptions {
  readonly maxConnections: number;
  readonly maxConnectionsPerIp: number;
  readonly newConnectionsPerIpPerSec: number;
  /** ms clock. @defaultValue `performance.now` */
  readonly now?: () => number;
}

/** Why a connection was refused, as the `reason` label of the refusal metric. */
export type GateRefusal = 'max_connections' | 'max_connections_per_ip' | 'new_connections_per_ip';

interface IpState {
  open: number;
  windowStart: number;
  newInWindow: number;
}

const WINDOW_MS = 1_000;

/** Counts open sockets globally and per IP, and new sockets per IP per one-second window. */
export class ConnectionGate {
  readonly #options: ConnectionGateOptions;
  readonly #now: () => number;
  readonly #ips = new Map<string, IpState>();
  #open = 0;
  #lastPrune = 0;

  constructor(options: ConnectionGateOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Open sockets admitted and not released. */
  get open(): number {
    return this.#open;
  }

  /** Admits a new socket from `ip` (then call {@link release} once when it closes), or says why not. */
  admit(ip: string): GateRefusal | null {
    const now = this.#now();
    this.#prune(now);
    if (this.#open >= this.#options.maxConnections) return 'max_connections';
    let state = this.#ips.get(ip);
    if (state === undefined) {
      state = { open: 0, windowStart: now, newInWindow: 0 };
      this.#ips.set(ip, state);
    }
    if (now - state.windowStart >= WINDOW_MS) {
      state.windowStart = now;
      state.newInWindow = 0;
    }
    if (state.open >= this.#options.maxConnectionsPerIp) return 'max_connections_per_ip';
    if (state.newInWindow >= this.#options.newConnectionsPerIpPerSec) return 'new_connections_per_ip';
    state.newInWindow += 1;
    state.open += 1;
    this.#open += 1;
    return null;
  }

  /** Releases a socket admitted from `ip`. */
  release(ip: string): void {
    const state = this.#ips.get(ip);
    if (state === undefined || state.open === 0) return;
    state.open -= 1;
    this.#open -= 1;
  }

  /** Forgets IPs with no open socket and an expired window, so the map stays bounded by recent sources. */
  #prune(now: number): void {
    if (now - this.#lastPrune < WINDOW_MS) return;
    this.#lastPrune = now;
    for (const [ip, state] of this.#ips) {
      if (state.open === 0 && now - state.windowStart >= WINDOW_MS) this.#ips.delete(ip);
    }
  }
}
