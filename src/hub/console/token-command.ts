/**
 * `fleethub token create --devices GLOB [--ttl 1h]` (SPEC: One executable):
 * prints a dashboard token, and nothing else, on stdout so scripts can
 * capture it.
 */
import type { Command } from 'commander';
import { action } from '../../command-action.js';
import { defaultPkiDir } from '../../pki/index.js';
import { parseTtl, signToken } from './dashboard-token.js';
import { loadOrCreateTokenKey } from './token-key-file.js';

interface CreateOptions {
  devices: string;
  ttl: string;
  pki: string;
  json?: boolean;
}

const EXAMPLES = `
Examples:
  $ fleethub token create --devices '*'                    # every device, valid 1 hour
  $ fleethub token create --devices 'greenhouse-*' --ttl 7d
  $ TOKEN=$(fleethub token create --devices 'sensor-0??' --ttl 30m)

Globs: * matches any run of characters, ? exactly one. Quote them so the
shell does not expand them. The longest --ttl is 30d.
Revoke every token: delete (or replace) token.key in the PKI folder; a
running hub notices within seconds and closes the dashboards using them.`;

/** Registers `token create`. */
export function registerTokenCommands(program: Command): void {
  const token = program.command('token').description('dashboard tokens for the console (/v1/stream and the web dashboard)');
  token
    .command('create')
    .description('print a dashboard token scoped to the devices matching GLOB, signed with token.key (made on first use)')
    .requiredOption('--devices <glob>', 'devices the token may see (* any run, ? one character)')
    .option('--ttl <duration>', 'lifetime: a number and s, m, h or d, at most 30d', '1h')
    .option('--pki <dir>', 'PKI folder holding token.key (env FLEETHUB_PKI)', defaultPkiDir())
    .option('--json', 'print {"token","devices","expiresAt"} instead of the bare token')
    .addHelpText('after', EXAMPLES)
    .action(
      action((options: CreateOptions) => {
        const ttlMs = parseTtl(options.ttl);
        const key = loadOrCreateTokenKey(options.pki);
        const { token: text, claims } = signToken(key, { devices: options.devices, ttlMs });
        const out = options.json ? JSON.stringify({ token: text, devices: claims.devices, expiresAt: claims.expiresAt }) : text;
        process.stdout.write(`${out}\n`);
      }),
    );
}
