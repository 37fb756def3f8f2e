/**
 * `fleethub provision reset <id>`: a device provisioned by claim may be
 * provisioned again. It lives here, not with the other `provision` commands
 * in src/pki/commands, because with a cluster hub's `--config` it also
 * resets the id in the cluster (the PKI knows no hub), like `device revoke`.
 */
import type { Command } from 'commander';
import { action } from './command-action.js';
import { FleethubError } from './errors.js';
import { loadHubConfig } from './hub/config-file.js';
import { readPassphrase } from './pki/ca-passphrase.js';
import { resetProvisioned } from './pki/claim-batches.js';
import { examples, passphraseOption, pkiOption, refuseTwoPkiFolders, resolvePkiDir } from './pki/commands/pki-options.js';

/** Registers `provision reset` (and `provision batch reset`) under `provision` (made by the PKI's commands). */
export function registerProvisionResetCommand(program: Command): void {
  const provision = program.commands.find((c) => c.name() === 'provision') ?? program.command('provision');
  const batch = provision.commands.find((c) => c.name() === 'batch');
  for (const parent of batch === undefined ? [provision] : [provision, batch]) {
    const cmd = parent.command('reset <id>')
      .description('let a device provisioned by claim be provisioned again (its flash was erased); its current certificate is revoked')
      .option('--config <file>', "a hub's JSON config: its pkiDir, and with `cluster` the id is reset in the cluster too and the CRLs published");
    passphraseOption(cmd);
    pkiOption(cmd);
    examples(cmd, ['fleethub provision reset line7-0042', 'fleethub provision reset line7-0042 --config hub-a.json']);
    cmd.action(action(async (id: string, flags: { pki?: string; passphraseFile?: string; config?: string }) => {
      refuseTwoPkiFolders(flags);
      const config = flags.config === undefined ? null : (await loadHubConfig(flags.config)).hub;
      const pkiDir = config?.pkiDir ?? resolvePkiDir(flags.pki);
      const passphrase = await readPassphrase({ file: flags.passphraseFile ?? null });
      const cluster = config?.cluster ?? null;
      if (cluster === null) {
        const out = await resetProvisioned(pkiDir, id, passphrase);
        process.stdout.write(`reset ${id}: it may be provisioned again${out.revokedSerial === null ? '' : `; its certificate ${out.revokedSerial} is revoked`}\n`);
        return;
      }
      // Cluster mode: the id may have been provisioned by a hub (the cluster's record) or before, by a single hub (the folder's).
      let local: { revokedSerial: string | null } | null = null;
      let unknown: unknown = null;
      try {
        local = await resetProvisioned(pkiDir, id, passphrase);
      } catch (err) {
        if (!(err instanceof FleethubError) || err.code !== 'FH_ERR_DEVICE_UNKNOWN') throw err;
        unknown = err;
      }
      // Loaded only for a cluster: every command of the CLI, `serve` among them, loads this module.
      const [{ resetClusterProvisioned }, { publishPkiToCluster }] = await Promise.all([
        import('./hub/cluster/cluster-provision-reset.js'), import('./hub/cluster/publish-pki.js'),
      ]);
      const inCluster = await resetClusterProvisioned(cluster, id);
      if (local === null && !inCluster.found) throw unknown;
      const revoked = [...(local?.revokedSerial === null || local === null ? [] : [local.revokedSerial]), ...inCluster.revoked];
      await publishPkiToCluster(cluster, pkiDir, { issuingPassphrase: passphrase });
      process.stdout.write(`reset ${id} in the cluster: it may be provisioned again${revoked.length === 0 ? '' : `; its certificates ${revoked.join(', ')} are revoked`}\n`);
    }));
  }
}
