/**
 * Device sessions on top of cluster-wide ownership (device-ownership.ts):
 * each session gets a connection id, is claimed before its device's state
 * is opened, and is closed with 4002 when a newer connection anywhere in
 * the cluster takes the device over. The close drains first: readings the
 * store already has are acked, so the device does not resend them to its
 * new hub (which would store them once anyway: the message id dedupes).
 */
import { randomUUID } from 'node:crypto';
import { CLOSE } from '../../errors.js';
import type { DeviceSession, SessionOwnership } from '../device-session.js';
import type { DeviceOwnership, Takeover } from './device-ownership.js';

/** The {@link SessionOwnership} of a cluster hub. {@link attach} the ownership once it is open. */
export class ClusterSessionOwnership implements SessionOwnership {
  readonly #connIds = new Map<DeviceSession, string>();
  readonly #sessions = new Map<string, DeviceSession>();
  readonly #releasing = new Set<Promise<unknown>>();
  #ownership: DeviceOwnership | null = null;

  /** Sets the ownership to claim with (opened after the listener exists, since its takeovers close sessions). */
  attach(ownership: DeviceOwnership): void {
    this.#ownership = ownership;
  }

  async claim(session: DeviceSession): Promise<void> {
    if (this.#ownership === null) throw new Error('cluster ownership is not open');
    const connId = randomUUID();
    this.#connIds.set(session, connId);
    this.#sessions.set(connId, session);
    await this.#ownership.claim(session.device, connId);
  }

  release(session: DeviceSession): void {
    const connId = this.#connIds.get(session);
    if (connId === undefined) return;
    this.#connIds.delete(session);
    this.#sessions.delete(connId);
    const released = this.#ownership?.release(session.device, connId);
    if (released === undefined) return;
    this.#releasing.add(released);
    void released.finally(() => this.#releasing.delete(released));
  }

  /** Whether connection `connId` is open or being claimed here (the cluster feed removes this hub's records of any other). */
  holds(connId: string): boolean {
    return this.#sessions.has(connId);
  }

  /** Resolves when the releases under way are written (at shutdown, so other hubs need no takeover request). */
  async settled(): Promise<void> {
    await Promise.all([...this.#releasing]);
  }

  /** The `onTakeover` of {@link DeviceOwnership}: the superseded connection closes with 4002 once its readings are settled. */
  async takeover(takeover: Takeover): Promise<void> {
    await this.#sessions.get(takeover.connId)?.close(CLOSE.REPLACED, true);
  }
}
