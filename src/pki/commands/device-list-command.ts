/**
 * `fleethub device list`: the inventory, as a table or JSON. With a cluster
 * hub's `--config`, the cluster's view: devices hubs provisioned, the
 * certificate a hub renewed, the revocations hubs recorded.
 */
import type { Command } from 'commander';
import { action } from '../../command-action.js';
import { assertCaPresent } from '../loaded-ca.js';
import { readInventory, type DeviceRecord } from '../inventory.js';
import { parseDurationMs } from '../../duration.js';
import { FleethubError } from '../../errors.js';
import { hubTargetOption, resolveHubTarget, type HubTargetReader } from './hub-target.js';
import { day, examples, pkiOption } from './pki-options.js';

/** Pure: the active devices whose certificate ends within `withinMs` of `now`, soonest first. */
export function expiringWithin(records: readonly DeviceRecord[], withinMs: number, now: number): DeviceRecord[] {
  return records
    .filter((r) => r.status === 'active' && Date.parse(r.notAfter) - now <= withinMs)
    .sort((a, b) => Date.parse(a.notAfter) - Date.parse(b.notAfter));
}

/** `--expiring 30d`: a duration with a unit (a bare number is days). */
function parseExpiring(value: string): number {
  const ms = parseDurationMs(value, 'd');
  if (ms === null || ms <= 0) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `--expiring must be a duration like 30d, 12h or 90 (days), got ${JSON.stringify(value)}`);
  return ms;
}

/** Renders records as an aligned text table. Pure. */
export function renderDeviceTable(records: readonly DeviceRecord[]): string {
  if (records.length === 0) return 'no devices (add one with "fleethub device add <id>")\n';
  const rows = [['ID', 'STATUS', 'NOT AFTER', 'PLAN', 'KEY', 'SERIAL']];
  for (const r of records) rows.push([r.id, r.status, day(r.notAfter), r.plan ?? '-', r.keyType, r.serial]);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => (row[c] ?? '').length)));
  return rows.map((row) => row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c] ?? 0))).join('  ')).join('\n') + '\n';
}

/** Registers `device list` under `device`; `--config` is offered when the executable gives a {@link HubTargetReader}. */
export function registerDeviceListCommand(device: Command, reader?: HubTargetReader): void {
  const cmd = device.command('list')
    .description('the inventory: id, status (active/revoked/expired), notAfter, plan, key type, serial')
    .option('--json', 'print a JSON array (every field, ISO dates)')
    .option('--expiring <time>', 'only active devices whose certificate ends within this time (30d, 12h; a bare number is days), soonest first');
  hubTargetOption(cmd, reader, 'the cluster\'s view: devices hubs provisioned, certificates hubs renewed, revocations hubs recorded');
  pkiOption(cmd);
  examples(cmd, [
    'fleethub device list', 'fleethub device list --expiring 30d', 'fleethub device list --json | jq -r \'.[] | select(.status=="revoked") | .id\'',
    ...(reader === undefined ? [] : ['fleethub device list --expiring 30d --config hub-a.json']),
  ]);
  cmd.action(action(async (flags: { pki?: string; config?: string; json?: boolean; expiring?: string }) => {
    const within = flags.expiring === undefined ? null : parseExpiring(flags.expiring);
    const target = await resolveHubTarget(flags, reader);
    await assertCaPresent(target.pkiDir); // a clear "no CA" beats an empty list for a mistyped --pki
    const all = target.cluster === null ? await readInventory(target.pkiDir) : await target.cluster.devices();
    const records = within === null ? all : expiringWithin(all, within, Date.now());
    if (within !== null && records.length === 0 && !flags.json) return void process.stdout.write(`no active device certificate ends within ${flags.expiring}\n`);
    process.stdout.write(flags.json ? `${JSON.stringify(records, null, 2)}\n` : renderDeviceTable(records));
  }));
}
