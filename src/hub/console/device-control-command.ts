/**
 * `fleethub device command <id> <name>` and `fleethub device config set|get <id|glob>`,
 * `fleethub device config delete <glob>` (SPEC: Token scopes): through the
 * console's `/v1/stream`, like a dashboard, with a short-lived token the CLI
 * signs itself with `token.key` (scope `command` or `config`, for that one
 * device or that glob only). A target with `*` or `?` is a glob of devices.
 *
 * `device command` prints the `commandResult` as JSON on stdout and exits 0
 * succeeded, 10 failed, 11 timed out, 12 expired or lost, 13 refused.
 */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { WebSocket } from 'ws';
import { action } from '../../command-action.js';
import { parseDurationMs } from '../../duration.js';
import { FleethubError, type ErrorCode } from '../../errors.js';
import { isValidDeviceId, pkiPaths } from '../../pki/index.js';
import { configGlobError } from '../commands/config-globs.js';
import { DEFAULT_PKI_DIR } from '../config.js';
import { MAX_TOKEN_TTL_MS, signToken, type TokenScope } from './dashboard-token.js';
import { loadOrCreateTokenKey } from './token-key-file.js';

/** `--console` when none is given (env `FLEETHUB_CONSOLE`). */
export const DEFAULT_CONSOLE_URL = 'https://localhost:8444';
/** Lifetime of the token `device config` signs: it is used at once. */
const CONFIG_TOKEN_TTL_MS = 5 * 60_000;
/** Margin of the `device command` token past the command's ttl and timeout. */
const TOKEN_MARGIN_MS = 5 * 60_000;
/** Time to connect and authenticate. */
const CONNECT_TIMEOUT_MS = 15_000;

/** How `device command` ends for each final state. */
const STATE_ERRORS: Readonly<Record<string, ErrorCode | null>> = {
  succeeded: null,
  failed: 'FH_ERR_COMMAND_FAILED',
  timed_out: 'FH_ERR_COMMAND_TIMED_OUT',
  expired: 'FH_ERR_COMMAND_NOT_DELIVERED',
  lost: 'FH_ERR_COMMAND_NOT_DELIVERED',
  refused: 'FH_ERR_COMMAND_REFUSED',
};

interface CommonOptions {
  console: string;
  pki: string;
}

function duration(text: string, flag: string): number {
  const ms = parseDurationMs(text);
  if (ms === null || ms < 0) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `${flag} must be a number and a unit (ms, s, m, h, d), e.g. 30s, 1h; got ${JSON.stringify(text)}`);
  return ms;
}

function deviceId(id: string): string {
  if (!isValidDeviceId(id)) throw new FleethubError('FH_ERR_INVALID_ID', `invalid device id ${JSON.stringify(id)}`);
  return id;
}

/** A `device config` target: `{ devices }` for a glob (it has `*` or `?`), else `{ device }`. */
function configTarget(target: string): { device: string } | { devices: string } {
  if (!/[*?]/.test(target)) return { device: deviceId(target) };
  const error = configGlobError(target);
  if (error !== null) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `invalid device glob: ${error}`);
  return { devices: target };
}

function jsonObject(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `${what} must be a JSON object`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

/** `https://host:port` → `wss://host:port/v1/stream`. */
function streamUrl(consoleUrl: string): string {
  let url: URL;
  try {
    url = new URL(consoleUrl);
  } catch {
    throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `--console must be a URL like ${DEFAULT_CONSOLE_URL}, got ${JSON.stringify(consoleUrl)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'wss:') throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `--console must be an https:// URL, got ${JSON.stringify(consoleUrl)}`);
  return `wss://${url.host}/v1/stream`;
}

/**
 * Opens the stream, authenticates with a fresh token, sends `request`, and
 * hands each later message to `onMessage` until it returns a value (or
 * throws). Rejects with FH_ERR_CONSOLE when the console cannot be reached or
 * closes first.
 */
async function converse<T>(options: CommonOptions, claims: { devices: string; ttlMs: number; scopes: TokenScope[] }, request: unknown, onMessage: (m: Record<string, unknown>) => T | undefined): Promise<T> {
  const url = streamUrl(options.console);
  const ca = await readFile(pkiPaths(options.pki).caCert, 'utf8').catch((err: unknown) => {
    throw new FleethubError('FH_ERR_CA_MISSING', `no CA certificate in ${options.pki} to check the console with (pass --pki)`, { cause: err });
  });
  const { token } = signToken(loadOrCreateTokenKey(options.pki), { devices: claims.devices, ttlMs: Math.min(claims.ttlMs, MAX_TOKEN_TTL_MS), scopes: claims.scopes });
  return new Promise<T>((resolve, reject) => {
    const ws = new WebSocket(url, { ca, handshakeTimeout: CONNECT_TIMEOUT_MS, perMessageDeflate: false });
    let settled = false;
    let authed = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(authTimer);
      ws.close(1000);
      fn();
    };
    const authTimer = setTimeout(() => finish(() => reject(new FleethubError('FH_ERR_CONSOLE', `the console at ${options.console} did not answer in time`))), CONNECT_TIMEOUT_MS);
    ws.on('open', () => ws.send(JSON.stringify({ auth: token })));
    ws.on('error', (err) => finish(() => reject(new FleethubError('FH_ERR_CONSOLE', `cannot reach the console at ${options.console}: ${err.message}`, { cause: err }))));
    ws.on('close', (code) => {
      const detail = code === 4401 ? 'refused the token (is --pki the hub\'s PKI folder?)' : `closed the connection (${code})`;
      finish(() => reject(new FleethubError(code === 4401 ? 'FH_ERR_TOKEN_INVALID' : 'FH_ERR_CONSOLE', `the console at ${options.console} ${detail}`)));
    });
    ws.on('message', (data) => {
      let message: Record<string, unknown>;
      try {
        message = JSON.parse(String(data)) as Record<string, unknown>;
      } catch {
        return;
      }
      if (!authed) {
        if (message.authed === undefined) return;
        authed = true;
        clearTimeout(authTimer);
        ws.send(JSON.stringify(request));
        return;
      }
      try {
        const value = onMessage(message);
        if (value !== undefined) finish(() => resolve(value));
      } catch (err) {
        finish(() => reject(err));
      }
    });
  });
}

/** The console answered `{"error":code}` to our request. */
function errorAnswer(message: Record<string, unknown>, code: ErrorCode, what: string): void {
  if (typeof message.error === 'string') throw new FleethubError(code, `the hub refused the ${what}: ${message.error}`);
}

/**
 * Sends one `config` request (a `config`-scope token for `devices`) and
 * prints the console's `config` answer as JSON; a refusal is
 * FH_ERR_CONFIG_REFUSED naming `what` was refused.
 */
async function sendConfig(options: CommonOptions, devices: string, config: Record<string, unknown>, what: string): Promise<void> {
  const answer = await converse(options, { devices, ttlMs: CONFIG_TOKEN_TTL_MS, scopes: ['config'] }, { config }, (m) => {
    errorAnswer(m, 'FH_ERR_CONFIG_REFUSED', what);
    return typeof m.config === 'object' && m.config !== null ? m.config : undefined;
  });
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}

/** Registers `device command` and `device config set|get|delete` on the `device` command. */
export function registerDeviceControlCommands(program: Command): void {
  const device = program.commands.find((c) => c.name() === 'device') ?? program.command('device');
  const pkiDefault = process.env.FLEETHUB_PKI ?? DEFAULT_PKI_DIR;
  const consoleDefault = process.env.FLEETHUB_CONSOLE ?? DEFAULT_CONSOLE_URL;
  /** The options every one of these commands takes: where the console is and the PKI folder to sign the token with. */
  const withConsole = (command: Command): Command => command
    .option('--console <url>', 'the hub\'s console (env FLEETHUB_CONSOLE)', consoleDefault)
    .option('--pki <dir>', 'PKI folder with ca.crt and token.key (env FLEETHUB_PKI)', pkiDefault);
  withConsole(device
    .command('command <id> <name>')
    .description('send an allow-listed command to a device through the console and print its result')
    .option('--args <json>', 'arguments, a JSON object of names and values', '{}')
    .option('--timeout <duration>', 'how long the device may take to answer (default: the allow-list\'s timeoutMs)')
    .option('--ttl <duration>', 'how long the command waits for an offline device', '1h'))
    .addHelpText('after', `
Examples:
  $ fleethub device command pump-7 ping
  $ fleethub device command pump-7 set_interval --args '{"interval_s":5}' --ttl 10m

Exit codes: 0 succeeded, 10 failed, 11 timed out, 12 expired or lost, 13 refused by the hub.`)
    .action(action(async (id: string, name: string, options: CommonOptions & { args: string; timeout?: string; ttl: string }) => {
      const args = jsonObject(options.args, '--args');
      const ttlMs = duration(options.ttl, '--ttl');
      const timeoutMs = options.timeout === undefined ? undefined : duration(options.timeout, '--timeout');
      const request = { command: { device: deviceId(id), name, args, ttlMs, ...(timeoutMs === undefined ? {} : { timeoutMs }) } };
      const result = await converse(options, { devices: id, ttlMs: ttlMs + (timeoutMs ?? 3_600_000) + TOKEN_MARGIN_MS, scopes: ['command'] }, request, (m) => {
        errorAnswer(m, 'FH_ERR_COMMAND_REFUSED', 'command');
        return typeof m.commandResult === 'object' && m.commandResult !== null ? (m.commandResult as Record<string, unknown>) : undefined;
      });
      process.stdout.write(`${JSON.stringify(result)}\n`);
      const code = STATE_ERRORS[String(result.state)];
      if (code === undefined) throw new FleethubError('FH_ERR_CONSOLE', `unexpected command state ${JSON.stringify(result.state)}`);
      if (code !== null) throw new FleethubError(code, `command ${String(result.id)} ${String(result.state)}${typeof result.error === 'string' ? `: ${result.error}` : ''}`);
    }));

  const config = device.command('config').description('desired configuration of a device or a glob of devices, through the console');
  withConsole(config
    .command('set <id|glob>')
    .description('store a new version of the desired configuration of a device, or of every device a glob matches (sent now to those online, else when they connect)')
    .requiredOption('--file <file>', 'a JSON object of names and values'))
    .addHelpText('after', `
Examples:
  $ echo '{"interval_s":30}' > pump-7.json && fleethub device config set pump-7 --file pump-7.json
  $ fleethub device config set 'pump-*' --file pumps.json

A device's own document comes before any glob's; of several matching globs, the most specific
(most characters that are not wildcards) wins. Quote a glob so the shell leaves it alone.`)
    .action(action(async (id: string, options: CommonOptions & { file: string }) => {
      const text = await readFile(options.file, 'utf8').catch((err: unknown) => {
        throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `cannot read --file ${options.file}`, { cause: err });
      });
      const desired = jsonObject(text, '--file');
      await sendConfig(options, id, { ...configTarget(id), desired }, 'configuration');
    }));
  withConsole(config
    .command('get <id|glob>')
    .description('print a device\'s desired configuration (its own or the glob\'s it gets), its version and the device\'s last acknowledgement; or a glob\'s document'))
    .addHelpText('after', `
Examples:
  $ fleethub device config get pump-7
  $ fleethub device config get 'pump-*'`)
    .action(action(async (id: string, options: CommonOptions) => {
      await sendConfig(options, id, configTarget(id), 'request');
    }));
  withConsole(config
    .command('delete <glob>')
    .description('forget a glob\'s desired configuration; devices it covered get the next matching glob\'s document, if any, and otherwise keep what they applied'))
    .addHelpText('after', `
Example:
  $ fleethub device config delete 'pump-*'`)
    .action(action(async (glob: string, options: CommonOptions) => {
      const target = configTarget(glob);
      if (!('devices' in target)) throw new FleethubError('FH_ERR_INVALID_ARGUMENT', `device config delete takes a glob (with * or ?), got the device id ${JSON.stringify(glob)}`);
      await sendConfig(options, glob, { devices: glob, delete: true }, 'request');
    }));
}
