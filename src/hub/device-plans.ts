/**
 * Each device's plan, read from the PKI inventory (`device add --plan`), so
 * the listener can give a connecting device its limits. The inventory is
 * followed through a {@link TextSource} (the file, polled), so a device added
 * with a plan while the hub runs gets it on its next connection.
 */
import { parseInventory, type InventoryFile } from '../pki/index.js';
import type { TextSource } from './text-source.js';

/**
 * Pure: device id → plan, for devices that have one. An unreadable inventory
 * yields no plans (every device then gets the default limits) rather than
 * stopping the hub: the certificates, not the inventory, decide who connects.
 */
export function plansFromInventory(text: string | null): Map<string, string> {
  const plans = new Map<string, string>();
  if (text === null) return plans;
  let inventory: InventoryFile;
  try {
    inventory = parseInventory(text, 'inventory.json');
  } catch {
    return plans;
  }
  for (const device of inventory.devices) {
    if (typeof device.plan === 'string') plans.set(device.id, device.plan);
  }
  return plans;
}

/** The plans of the inventory, kept current while the hub runs. */
export class DevicePlans {
  readonly #source: TextSource;
  #plans = new Map<string, string>();

  constructor(source: TextSource) {
    this.#source = source;
  }

  /** Reads the inventory and follows its changes. An unreadable one means no plans, not a stopped hub. */
  async start(): Promise<void> {
    this.#plans = plansFromInventory(await this.#source.read().catch(() => null));
    this.#source.watch((text) => (this.#plans = plansFromInventory(text)));
  }

  /** The plan of device `id`, or undefined when it has none. */
  get(id: string): string | undefined {
    return this.#plans.get(id);
  }

  /** Looks for a change now instead of at the next poll. */
  check(): Promise<void> {
    return this.#source.check();
  }

  /** Stops following the inventory. Idempotent. */
  close(): Promise<void> {
    return this.#source.close();
  }
}
