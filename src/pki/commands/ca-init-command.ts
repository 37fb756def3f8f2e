/** `fleethub ca init`: creates the CA key and self-signed certificate. */
import type { Command } from 'commander';
import { action } from '../../command-action.js';
import { DEFAULT_CA_NAME, initCa } from '../ca.js';
import { DEFAULT_CA_DAYS } from '../validity.js';
import { day, examples, keyOptions, parseWhole, pkiOption, resolvePkiDir } from './pki-options.js';

interface CaInitFlags { pki?: string; name?: string; days?: string; keyType?: string; keyBits?: string; force?: boolean }

/** Registers `ca init` under `ca`. */
export function registerCaInitCommand(ca: Command): void {
  const cmd = ca.command('init')
    .description('create the CA key (0600) and self-signed CA certificate, and an empty CRL')
    .option('--name <cn>', `CA subject CN (default "${DEFAULT_CA_NAME}")`)
    .option('--days <n>', `validity in days (default ${DEFAULT_CA_DAYS})`)
    .option('--force', 'start a new PKI: the old CA, server certificate, CRL, inventory and devices/ move to <pki>/replaced-<time>/, and every device needs a new certificate');
  keyOptions(cmd);
  pkiOption(cmd);
  examples(cmd, [
    'fleethub ca init --name "Acme sensors CA"',
    'fleethub ca init --pki /etc/fleethub/certs --key-type rsa',
    'fleethub ca init --force --name "Acme sensors CA 2"   # new PKI; the old one moves to certs/replaced-<time>/',
  ]);
  cmd.action(action(async (flags: CaInitFlags) => {
    const dir = resolvePkiDir(flags.pki);
    const out = await initCa(dir, {
      ...(flags.name === undefined ? {} : { name: flags.name }),
      days: parseWhole(flags.days, '--days'),
      keyType: flags.keyType as 'ec' | 'rsa' | undefined,
      keyBits: parseWhole(flags.keyBits, '--key-bits'),
      force: flags.force ?? false,
    });
    if (out.replaced !== null) {
      const moved = out.replaced.moved.map((name) => (name === 'devices' ? 'devices/' : name)).join(' ');
      process.stdout.write(`moved the previous PKI (${moved}) to ${out.replaced.dir}: every device needs a new certificate from the new CA, and the hub a new server certificate (fleethub ca server-cert)\n`);
    }
    process.stdout.write(`created CA ${out.certPath} (${out.keyType}, valid until ${day(out.notAfter)}); key ${out.keyPath} (0600)\n`);
  }));
}
