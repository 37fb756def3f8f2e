/**
 * The live device connections, one per device id (SPEC: a newer connection
 * of the same device replaces the older one, which is closed with 4002).
 */
import type { DeviceSession } from './device-session.js';

/** Device id → its current session. */
export class DeviceRegistry {
  readonly #sessions = new Map<string, DeviceSession>();

  /** Makes `session` its device's current one; returns the session it replaces, if any. */
  claim(session: DeviceSession): DeviceSession | undefined {
    const previous = this.#sessions.get(session.device);
    this.#sessions.set(session.device, session);
    return previous;
  }

  /** Forgets `session` if it is still its device's current one; true when it was (the device went offline). */
  release(session: DeviceSession): boolean {
    if (this.#sessions.get(session.device) !== session) return false;
    this.#sessions.delete(session.device);
    return true;
  }

  /** The current session of `device`. */
  get(device: string): DeviceSession | undefined {
    return this.#sessions.get(device);
  }

  /** Connected devices. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Ids of the connected devices. */
  devices(): IterableIterator<string> {
    return this.#sessions.keys();
  }

  /** Current sessions. */
  sessions(): IterableIterator<DeviceSession> {
    return this.#sessions.values();
  }
}
