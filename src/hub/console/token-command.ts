/**
 * `fleethub token create --devices GLOB [--ttl 1h] [--scope read,command,config]` (SPEC: One executable):
 * prints a dashboard token, and nothing else, on stdout so scripts can
 * capture it.
 */
import type { Command } from 'commander';
import { action } from '../../command-action.js';
import { defaultPkiDir } from '../../pki/index.js';
import { parseScopes, parseTtl, signToken } from './dashboard-token.js';
import { loadOrCreateTokenKey } from './token-key-file.js';

interface CreateOptions {
  devices: string;
  ttl: string;
  scope: string;
  pki: string;
  json?: boolean;
}

const EXAMPLES = `
Examples:
  $ fleethub token create --devices '*'                    # every device, valid 1 hour
  $ fleethub token create --devices 'greenhouse-*' --ttl 7d
  $ TOKEN=$(fleethub token create --devices 'sensor-0??' --ttl 30m)
  $ fleethub token create --devices 'pump-*' --ttl 15m --scope read,command,config

Scopes: read (the default: see readings and presence), command (send
allow-listed commands), config (set and read desired configuration).

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
    .option('--scope <list>', 'what it allows, comma-separated: read, command, config', 'read')
    .option('--pki <dir>', 'PKI folder holding token.key (env FLEETHUB_PKI)', defaultPkiDir())
    .option('--json', 'print {"token","devices","expiresAt"} instead of the bare token')
    .addHelpText('after', EXAMPLES)
    .action(
      action((options: CreateOptions) => {
        const ttlMs = parseTtl(options.ttl);
        const scopes = parseScopes(options.scope);
        const key = loadOrCreateTokenKey(options.pki);
        const { token: text, claims } = signToken(key, { devices: options.devices, ttlMs, scopes });
        const out = options.json ? JSON.stringify({ token: text, devices: claims.devices, expiresAt: claims.expiresAt, scopes: claims.scopes }) : text;
        process.stdout.write(`${out}\n`);
      }),
    );
}
