/** `fleethub ca crl`: re-signs the CRL of each CA with every revoked serial. */
import type { Command } from 'commander';
import { action } from '../../command-action.js';
import { FleethubError } from '../../errors.js';
import { readPassphrase } from '../ca-passphrase.js';
import { parseCrl } from '../crl.js';
import { pkiPaths } from '../paths.js';
import { readText } from '../pki-files.js';
import { writeCrl, type CaRole } from '../revocation.js';
import { DEFAULT_CRL_DAYS } from '../validity.js';
import { examples, parseWhole, passphraseOption, pkiOption, resolvePkiDir } from './pki-options.js';

const ROLES: readonly CaRole[] = ['root', 'issuing', 'claim'];

function parseRole(value: string | undefined): CaRole | undefined {
  if (value === undefined) return undefined;
  if (!(ROLES as readonly string[]).includes(value)) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `--ca must be one of ${ROLES.join(', ')}, got ${JSON.stringify(value)}`);
  return value as CaRole;
}

/** Registers `ca crl` under `ca`. */
export function registerCaCrlCommand(ca: Command): void {
  const cmd = ca.command('crl')
    .description('(re)write the CRLs (crl.pem for the root, issuing-crl.pem, claim-crl.pem), each signed by its CA, listing every revoked serial')
    .option('--days <n>', `days until nextUpdate (default ${DEFAULT_CRL_DAYS}); the hub refuses every device once it passes`)
    .option('--ca <which>', `only this CA's CRL: ${ROLES.join(', ')} (default: every CA whose key is in the folder)`);
  passphraseOption(cmd);
  pkiOption(cmd);
  examples(cmd, ['fleethub ca crl', 'fleethub ca crl --ca root --days 1825   # where the root key is kept off the hub', 'openssl crl -in certs/crl.pem -noout -text']);
  cmd.action(action(async (flags: { pki?: string; days?: string; ca?: string; passphraseFile?: string }) => {
    const dir = resolvePkiDir(flags.pki);
    const roles = await writeCrl(dir, {
      days: parseWhole(flags.days, '--days'), ...(flags.ca === undefined ? {} : { ca: parseRole(flags.ca) as CaRole }),
      issuingPassphrase: await readPassphrase({ file: flags.passphraseFile ?? null }),
    });
    const paths = pkiPaths(dir);
    for (const role of roles) {
      const path = role === 'root' ? paths.crl : role === 'issuing' ? paths.issuingCrl : paths.claimCrl;
      const info = parseCrl(await readText(path));
      process.stdout.write(`wrote ${path}: CRL #${info.number ?? '?'}, ${info.serials.size} revoked, next update ${info.nextUpdate?.toISOString() ?? '-'}\n`);
    }
  }));
}
