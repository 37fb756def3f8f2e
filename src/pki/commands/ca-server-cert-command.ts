/** `fleethub ca server-cert`: issues the hub's TLS server certificate. */
import type { Command } from 'commander';
import { action } from '../../command-action.js';
import { issueServerCert } from '../ca.js';
import { DEFAULT_SERVER_DAYS } from '../validity.js';
import { day, examples, keyOptions, parseWhole, pkiOption, resolvePkiDir } from './pki-options.js';

interface ServerCertFlags { pki?: string; host?: string[]; ip?: string[]; days?: string; keyType?: string; keyBits?: string; force?: boolean }

/** Registers `ca server-cert` under `ca`. */
export function registerCaServerCertCommand(ca: Command): void {
  const cmd = ca.command('server-cert')
    .description('issue the hub\'s TLS server certificate (serverAuth only) for the given names')
    .option('--host <name...>', 'DNS names devices connect to (ESP32 mbedTLS checks these, not IPs)')
    .option('--ip <addr...>', 'IP addresses, for clients that connect by address')
    .option('--days <n>', `validity in days (default ${DEFAULT_SERVER_DAYS})`)
    .option('--force', 'replace an existing server certificate');
  keyOptions(cmd);
  pkiOption(cmd);
  examples(cmd, ['fleethub ca server-cert --host hub.example.com', 'fleethub ca server-cert --host localhost --ip 127.0.0.1 ::1 --force']);
  cmd.action(action(async (flags: ServerCertFlags) => {
    const out = await issueServerCert(resolvePkiDir(flags.pki), {
      hosts: flags.host ?? [],
      ips: flags.ip ?? [],
      days: parseWhole(flags.days, '--days'),
      keyType: flags.keyType as 'ec' | 'rsa' | undefined,
      keyBits: parseWhole(flags.keyBits, '--key-bits'),
      force: flags.force ?? false,
    });
    const names = [...(flags.host ?? []), ...(flags.ip ?? [])].join(', ');
    process.stdout.write(`issued ${out.certPath} for ${names} (${out.keyType}, valid until ${day(out.notAfter)}); key ${out.keyPath} (0600)\n`);
  }));
}
