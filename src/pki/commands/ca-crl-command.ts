/** `fleethub ca crl`: re-signs `crl.pem` with every revoked serial. */
import type { Command } from 'commander';
import { action } from '../../command-action.js';
import { parseCrl } from '../crl.js';
import { pkiPaths } from '../paths.js';
import { readText } from '../pki-files.js';
import { writeCrl } from '../revocation.js';
import { DEFAULT_CRL_DAYS } from '../validity.js';
import { examples, parseWhole, pkiOption, resolvePkiDir } from './pki-options.js';

/** Registers `ca crl` under `ca`. */
export function registerCaCrlCommand(ca: Command): void {
  const cmd = ca.command('crl')
    .description('(re)write crl.pem, signed by the CA, listing every revoked serial')
    .option('--days <n>', `days until nextUpdate (default ${DEFAULT_CRL_DAYS}); the hub refuses every device once it passes`);
  pkiOption(cmd);
  examples(cmd, ['fleethub ca crl', 'openssl crl -in certs/crl.pem -noout -text']);
  cmd.action(action(async (flags: { pki?: string; days?: string }) => {
    const dir = resolvePkiDir(flags.pki);
    await writeCrl(dir, { days: parseWhole(flags.days, '--days') });
    const path = pkiPaths(dir).crl;
    const info = parseCrl(await readText(path));
    process.stdout.write(`wrote ${path}: CRL #${info.number ?? '?'}, ${info.serials.size} revoked, next update ${info.nextUpdate?.toISOString() ?? '-'}\n`);
  }));
}
