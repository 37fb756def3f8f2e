/**
 * `fleethub device revoke`: marks a device revoked and rewrites the CRL;
 * with a cluster hub's config, publishes it to the cluster. It lives here,
 * not with the other `device` commands in src/pki/commands, because it also
 * reads a hub's config and talks to the cluster (the PKI knows no hub).
 */
import type { Command } from 'commander';
import { action } from './command-action.js';
import { loadHubConfig } from './hub/config-file.js';
import { REVOCATION_REASONS, resolveRevocationReason } from './pki/crl.js';
import { revokeDevice } from './pki/revocation.js';
import { readPassphrase } from './pki/ca-passphrase.js';
import { examples, passphraseOption, pkiOption, refuseTwoPkiFolders, resolvePkiDir } from './pki/commands/pki-options.js';

/** Registers `device revoke` under `device` (made by the PKI's commands). */
export function registerDeviceRevokeCommand(program: Command): void {
  const device = program.commands.find((c) => c.name() === 'device') ?? program.command('device');
  const cmd = device.command('revoke <id>')
    .description('revoke a device: the inventory marks it and crl.pem is rewritten (a running hub drops it within 5 s)')
    .option('--reason <reason>', `RFC 5280 reason: ${Object.keys(REVOCATION_REASONS).join(', ')} (default unspecified)`)
    .option('--config <file>', "a hub's JSON config: its pkiDir, and with `cluster` the CRL is also published to every hub (within 2 s)");
  passphraseOption(cmd);
  pkiOption(cmd);
  examples(cmd, ['fleethub device revoke greenhouse-01 --reason keyCompromise', 'fleethub device revoke greenhouse-01 --config hub-a.json']);
  cmd.action(action(async (id: string, flags: { pki?: string; reason?: string; config?: string; passphraseFile?: string }) => {
    refuseTwoPkiFolders(flags);
    const config = flags.config === undefined ? null : (await loadHubConfig(flags.config)).hub;
    const pkiDir = config?.pkiDir ?? resolvePkiDir(flags.pki);
    const reason = resolveRevocationReason(flags.reason);
    const issuingPassphrase = await readPassphrase({ file: flags.passphraseFile ?? null });
    const rec = await revokeDevice(pkiDir, id, { reason, issuingPassphrase });
    const crl = rec.issuer === 'issuing' ? 'issuing-crl.pem' : 'crl.pem';
    process.stdout.write(`revoked ${rec.id} (serial ${rec.serial}, reason ${rec.reason ?? 'unspecified'}); ${crl} rewritten\n`);
    if (config?.cluster == null) return;
    // Loaded only for a cluster: every command of the CLI, `serve` among them, loads this module.
    const { publishPkiToCluster } = await import('./hub/cluster/publish-pki.js');
    const published = await publishPkiToCluster(config.cluster, pkiDir, { issuingPassphrase, revoked: { id, reason } });
    process.stdout.write(`published the CRL to the cluster (revision ${rec.issuer === 'issuing' ? published.issuingCrl : published.crl}); every hub closes ${rec.id} within 2 s\n`);
  }));
}
