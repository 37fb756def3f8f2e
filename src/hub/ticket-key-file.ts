/**
 * `ticket.keys` in the PKI folder: the key that encrypts the device
 * listener's TLS session tickets (Node's `ticketKeys`: 48 bytes, a 16-byte
 * key name, a 16-byte HMAC key and a 16-byte AES key). Every hub started on
 * the same PKI folder (or a copy of it) uses the same key, so a device
 * resumes its TLS session after a hub restart or on another hub, instead of
 * a full handshake with its ECDSA signature and certificate verification:
 * the most expensive thing the hub does, and what a restart used to cost
 * every device at once (SPEC: Cluster mode, session tickets).
 *
 * The first hub that needs it creates it (random, 0600, exclusive atomic
 * write, so two hubs starting together end up with one key).
 *
 * Rotation. Node's TLS server holds one ticket key at a time: after a
 * rotation, tickets made with the previous key no longer resume (those
 * devices do one full handshake). So: a hub that finds the file older than
 * `device.ticketKeyRotationHours` replaces it (atomic rename), and every hub
 * reads a changed file within {@link TICKET_KEY_CHECK_MS}; a ticket lives as
 * long as the rotation period. What it protects: TLS 1.2 tickets carry the
 * session's master secret, so whoever gets the key can decrypt recorded
 * sessions whose tickets it encrypted; after a rotation a stolen key reads
 * at most one period of traffic. The key also lets its holder forge
 * tickets for any device identity: keep it like `ca.key` (which sits in the
 * same folder). With `ticketKeyRotationHours: 0` the hubs never rotate (hubs
 * on copies of the folder, not a shared one, must not rotate each their own
 * copy): an operator replaces the file on every hub instead.
 */
import { join } from 'node:path';
import { FleethubError } from '../errors.js';
import type { Logger } from '../log.js';
import { MAX_TICKET_LIFETIME_HOURS } from './config.js';
import { createSecretFile, errnoOf, readSecretFile, secretFileInfo, type SecretFileInfo } from './secret-file.js';

/** File name of the ticket key inside the PKI folder. */
export const TICKET_KEY_FILE = 'ticket.keys';

/** Node's `ticketKeys` size. */
export const TICKET_KEY_BYTES = 48;

/** How often the file is checked for a rotation by another hub or an operator (one stat). */
export const TICKET_KEY_CHECK_MS = 1_000;

const HOUR_MS = 3_600_000;

/** Seconds a session ticket resumes (Node's `sessionTimeout`): the rotation period, or RFC 8446's seven days without rotation. */
export function ticketLifetimeSeconds(rotationHours: number): number {
  return (rotationHours === 0 ? MAX_TICKET_LIFETIME_HOURS : rotationHours) * 3600;
}

function readKey(path: string): Buffer {
  return readSecretFile(path, TICKET_KEY_BYTES, true, 'delete it and a hub makes a new one');
}

function create(path: string, replace: boolean): void {
  try {
    createSecretFile(path, TICKET_KEY_BYTES, replace);
  } catch (err) {
    throw new FleethubError('FH_ERR_PKI_IO', `cannot write ${path}: ${errnoOf(err) ?? 'error'}`, { cause: err });
  }
}

/** Options of {@link TicketKeyFile}. */
export interface TicketKeyFileOptions {
  /** Hours after which the key is replaced; 0: never. */
  readonly rotationHours: number;
  /** Runs with the new key whenever it changes (set it on the TLS server). */
  readonly onChange: (key: Buffer) => void;
  readonly log: Logger;
  /** ms clock. @defaultValue Date.now */
  readonly now?: () => number;
}

/** The session-ticket key of a running hub: loaded or made at start, rotated when due, reloaded when the file changes. */
export class TicketKeyFile {
  readonly #path: string;
  readonly #options: TicketKeyFileOptions;
  readonly #now: () => number;
  #key: Buffer;
  #identity: string;
  #timer: NodeJS.Timeout | null = null;

  /** Reads (or makes) `ticket.keys` in `pkiDir`, rotating it first if it is due. Throws FH_ERR_PKI_IO. */
  constructor(pkiDir: string, options: TicketKeyFileOptions) {
    this.#path = join(pkiDir, TICKET_KEY_FILE);
    this.#options = options;
    this.#now = options.now ?? Date.now;
    let found = secretFileInfo(this.#path);
    if (found === null || this.#due(found)) {
      create(this.#path, found !== null);
      found = secretFileInfo(this.#path);
    }
    this.#key = readKey(this.#path);
    this.#identity = found?.identity ?? '';
  }

  /** The current key. */
  get key(): Buffer {
    return this.#key;
  }

  /** The TLS server options: the key, and tickets that live as long as a key (Node's `sessionTimeout`, in seconds). */
  tlsOptions(): { ticketKeys: Buffer; sessionTimeout: number } {
    return { ticketKeys: this.#key, sessionTimeout: ticketLifetimeSeconds(this.#options.rotationHours) };
  }

  /** Checks every {@link TICKET_KEY_CHECK_MS}. */
  start(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => this.check(), TICKET_KEY_CHECK_MS);
    this.#timer.unref();
  }

  /** Stops checking. Idempotent. */
  close(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /**
   * Rotates the key if it is due, and loads the file if it changed (this
   * hub's rotation, another hub's, or an operator's). A bad file keeps the
   * current key: a hub never stops serving over it.
   */
  check(): void {
    try {
      let found = secretFileInfo(this.#path);
      const rotate = found !== null && this.#due(found);
      if (found === null || rotate) {
        create(this.#path, rotate);
        found = secretFileInfo(this.#path);
        if (rotate) this.#options.log.log('info', 'tls.ticket_key_rotated', { path: this.#path, everyHours: this.#options.rotationHours });
      }
      if (found === null || found.identity === this.#identity) return;
      // Recorded first: a bad file is reported once, not on every check.
      this.#identity = found.identity;
      const key = readKey(this.#path);
      if (key.equals(this.#key)) return;
      this.#key = key;
      this.#options.onChange(key);
    } catch (err) {
      this.#options.log.log('error', 'tls.ticket_key_invalid', { error: err instanceof Error ? err.message : String(err), kept: 'previous key' });
    }
  }

  #due(found: SecretFileInfo): boolean {
    const hours = this.#options.rotationHours;
    return hours > 0 && this.#now() - found.mtimeMs >= hours * HOUR_MS;
  }
}
