/** `fleethub ca issuing init`: the issuing CA the hub signs with (SPEC: Certificate authority for online signing). */
import type { Command } from 'commander';
import { action } from '../../command-action.js';
import { readPassphrase } from '../ca-passphrase.js';
import { DEFAULT_ISSUING_DAYS, DEFAULT_ISSUING_NAME, initIssuingCa } from '../issuing-ca.js';
import { day, examples, keyOptions, parseWhole, passphraseOption, pkiOption, resolvePkiDir } from './pki-options.js';

interface IssuingInitFlags {
  pki?: string; name?: string; days?: string; keyType?: string; keyBits?: string; passphraseFile?: string; standalone?: boolean;
}

/** Registers `ca issuing init` under `ca`. */
export function registerCaIssuingCommand(ca: Command): void {
  const issuing = ca.command('issuing').description('the issuing CA: signs device certificates online, so the root key can leave the hub');
  const cmd = issuing.command('init')
    .description('create the issuing CA (issuing.crt, issuing.key, issuing-crl.pem), certified by the root; devices keep trusting ca.crt')
    .option('--name <cn>', `subject CN (default "${DEFAULT_ISSUING_NAME}")`)
    .option('--days <n>', `validity in days (default ${DEFAULT_ISSUING_DAYS}, never past the root's own expiry)`)
    .option('--standalone', 'self-signed, for a root made before online signing (pathlen:0); the hub trusts it next to the root');
  keyOptions(cmd);
  passphraseOption(cmd);
  pkiOption(cmd);
  examples(cmd, [
    'fleethub ca issuing init',
    'FLEETHUB_ISSUING_PASSPHRASE=... fleethub ca issuing init   # issuing.key encrypted (AES-256)',
    'fleethub ca issuing init --passphrase-file /run/secrets/issuing-pass',
  ]);
  cmd.action(action(async (flags: IssuingInitFlags) => {
    const dir = resolvePkiDir(flags.pki);
    const out = await initIssuingCa(dir, {
      ...(flags.name === undefined ? {} : { name: flags.name }),
      days: parseWhole(flags.days, '--days'),
      keyType: flags.keyType as 'ec' | 'rsa' | undefined,
      keyBits: parseWhole(flags.keyBits, '--key-bits'),
      passphrase: await readPassphrase({ file: flags.passphraseFile ?? null }),
      standalone: flags.standalone ?? false,
    });
    const how = out.standalone ? 'self-signed' : 'certified by the root';
    process.stdout.write(`created issuing CA ${out.certPath} (${how}, valid until ${day(out.notAfter)}); key ${out.keyPath} (0600${out.encrypted ? ', encrypted' : ''})\n`);
    process.stdout.write('device certificates are now signed by it; restart the hub to trust it. The root key (ca.key) is only needed for ca server-cert and the root\'s CRL: it may now be kept off this machine.\n');
  }));
}
