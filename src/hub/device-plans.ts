/**
 * Each device's plan, read from the PKI inventory (`device add --plan`), so
 * the listener can give a connecting device its limits. The inventory is
 * re-read whenever it changes (file-poller.ts), so a device added with a plan
 * while the hub runs gets it on its next connection.
 */
import { readFile } from 'node:fs/promises';
import { parseInventory, type InventoryFile } from '../pki/index.js';

/** The inventory file's text, or null when there is none yet. */
export async function readInventoryText(path: string): Promise<string | null> {
  return readFile(path, 'utf8').catch(() => null);
}

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
