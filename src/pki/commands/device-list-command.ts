/** `fleethub device list`: the inventory, as a table or JSON. */
import type { Command } from 'commander';
import { action } from '../../command-action.js';
import { assertCaPresent } from '../loaded-ca.js';
import { readInventory, type DeviceRecord } from '../inventory.js';
import { day, examples, pkiOption, resolvePkiDir } from './pki-options.js';

/** Renders records as an aligned text table. Pure. */
export function renderDeviceTable(records: readonly DeviceRecord[]): string {
  if (records.length === 0) return 'no devices (add one with "fleethub device add <id>")\n';
  const rows = [['ID', 'STATUS', 'NOT AFTER', 'PLAN', 'KEY', 'SERIAL']];
  for (const r of records) rows.push([r.id, r.status, day(r.notAfter), r.plan ?? '-', r.keyType, r.serial]);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => (row[c] ?? '').length)));
  return rows.map((row) => row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c] ?? 0))).join('  ')).join('\n') + '\n';
}

/** Registers `device list` under `device`. */
export function registerDeviceListCommand(device: Command): void {
  const cmd = device.command('list')
    .description('the inventory: id, status (active/revoked/expired), notAfter, plan, key type, serial')
    .option('--json', 'print a JSON array (every field, ISO dates)');
  pkiOption(cmd);
  examples(cmd, ['fleethub device list', 'fleethub device list --json | jq -r \'.[] | select(.status=="revoked") | .id\'']);
  cmd.action(action(async (flags: { pki?: string; json?: boolean }) => {
    const dir = resolvePkiDir(flags.pki);
    await assertCaPresent(dir); // a clear "no CA" beats an empty list for a mistyped --pki
    const records = await readInventory(dir);
    process.stdout.write(flags.json ? `${JSON.stringify(records, null, 2)}\n` : renderDeviceTable(records));
  }));
}
