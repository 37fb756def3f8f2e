/** `fleethub device revoke`: marks a device revoked and rewrites the CRL. */
import type { Command } from 'commander';
import { action } from '../../command-action.js';
import { REVOCATION_REASONS, resolveRevocationReason } from '../crl.js';
import { revokeDevice } from '../revocation.js';
import { examples, pkiOption, resolvePkiDir } from './pki-options.js';

/** Registers `device revoke` under `device`. */
export function registerDeviceRevokeCommand(device: Command): void {
  const cmd = device.command('revoke <id>')
    .description('revoke a device: the inventory marks it and crl.pem is rewritten (a running hub drops it within 5 s)')
    .option('--reason <reason>', `RFC 5280 reason: ${Object.keys(REVOCATION_REASONS).join(', ')} (default unspecified)`);
  pkiOption(cmd);
  examples(cmd, ['fleethub device revoke greenhouse-01 --reason keyCompromise']);
  cmd.action(action(async (id: string, flags: { pki?: string; reason?: string }) => {
    const rec = await revokeDevice(resolvePkiDir(flags.pki), id, { reason: resolveRevocationReason(flags.reason) });
    process.stdout.write(`revoked ${rec.id} (serial ${rec.serial}, reason ${rec.reason ?? 'unspecified'}); crl.pem rewritten\n`);
  }));
}
