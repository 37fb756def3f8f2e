/** `fleethub provision reset <id>`: a device provisioned by claim may be provisioned again. */
import type { Command } from 'commander';
import { action } from '../../command-action.js';
import { readPassphrase } from '../ca-passphrase.js';
import { resetProvisioned } from '../claim-batches.js';
import { examples, passphraseOption, pkiOption, resolvePkiDir } from './pki-options.js';

/** Registers `provision reset` (and `provision batch reset`) under `parents`. */
export function registerProvisionResetCommand(...parents: Command[]): void {
  for (const parent of parents) {
    const cmd = parent.command('reset <id>')
      .description('let a device provisioned by claim be provisioned again (its flash was erased); its current certificate is revoked');
    passphraseOption(cmd);
    pkiOption(cmd);
    examples(cmd, ['fleethub provision reset line7-0042']);
    cmd.action(action(async (id: string, flags: { pki?: string; passphraseFile?: string }) => {
      const out = await resetProvisioned(resolvePkiDir(flags.pki), id, await readPassphrase({ file: flags.passphraseFile ?? null }));
      process.stdout.write(`reset ${id}: it may be provisioned again${out.revokedSerial === null ? '' : `; its certificate ${out.revokedSerial} is revoked`}\n`);
    }));
  }
}
