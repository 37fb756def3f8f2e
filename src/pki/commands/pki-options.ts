/**
 * Options shared by the `ca` and `device` commands, parsed inside the action
 * so every bad value becomes one FleethubError line with a documented exit
 * code (SPEC: "one clear line on stderr").
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { FleethubError } from '../../errors.js';
import { DEFAULT_PKI_DIR, defaultPkiDir } from '../paths.js';

export { DEFAULT_PKI_DIR };

/** Adds `--pki <dir>`. */
export function pkiOption(cmd: Command): Command {
  return cmd.option('--pki <dir>', `PKI folder (env FLEETHUB_PKI, default ${DEFAULT_PKI_DIR})`);
}

/** `--pki`, else FLEETHUB_PKI, else ./certs, as an absolute path. */
export function resolvePkiDir(pki: string | undefined): string {
  const dir = pki ?? defaultPkiDir();
  if (dir.length === 0) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', '--pki must not be empty');
  return resolve(dir);
}

/** `--pki` and `--config` (a hub's config, which names its pkiDir) together name the folder twice: a usage error. */
export function refuseTwoPkiFolders(flags: { pki?: string; config?: string }): void {
  if (flags.config !== undefined && flags.pki !== undefined) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', '--pki and --config name the PKI folder twice: give one');
}

/** Parses a whole-number option (`--days`, `--count`, `--key-bits`); undefined stays undefined. */
export function parseWhole(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value.trim())) {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `${flag} must be a whole number, got ${JSON.stringify(value)}`);
  }
  return Number.parseInt(value, 10);
}

/** `--key-type` and `--key-bits` help lines. */
export function keyOptions(cmd: Command): Command {
  return cmd
    .option('--key-type <type>', 'ec (ECDSA P-256, default) or rsa')
    .option('--key-bits <bits>', 'RSA modulus: 2048 (default) or 3072');
}

/** Adds `--passphrase-file <file>` (the issuing CA key's passphrase; else env FLEETHUB_ISSUING_PASSPHRASE). */
export function passphraseOption(cmd: Command): Command {
  return cmd.option('--passphrase-file <file>', "passphrase of an encrypted issuing.key (else env FLEETHUB_ISSUING_PASSPHRASE)");
}

/** Adds an "Examples:" block to `--help`. */
export function examples(cmd: Command, lines: string[]): Command {
  return cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
}

/** Formats an ISO date for people: `2036-11-20`. */
export function day(iso: string): string {
  return iso.slice(0, 10);
}
