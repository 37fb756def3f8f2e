/**
 * The `ca` and `device` commands (SPEC: One executable), one file per
 * subcommand. Each is a thin shell over `src/pki`.
 */
import type { Command } from 'commander';
import { registerCaCrlCommand } from './ca-crl-command.js';
import { registerCaInitCommand } from './ca-init-command.js';
import { registerCaIssuingCommand } from './ca-issuing-init-command.js';
import { registerCaServerCertCommand } from './ca-server-cert-command.js';
import { registerDeviceAddCommand, type HubConfigReader } from './device-add-command.js';
import { registerDeviceExportCommand } from './device-export-command.js';
import { registerDeviceListCommand } from './device-list-command.js';
import type { HubTargetReader } from './hub-target.js';
import { examples } from './pki-options.js';
import { registerProvisionBatchCommands } from './provision-batch-commands.js';

export type { HubConfigReader, HubTargetReader };

/** What the executable gives the PKI commands for `--config FILE` (a hub's config; src/pki reads none). */
export interface PkiCommandHooks {
  /** `device add --config`. */
  readonly readHubConfig?: HubConfigReader;
  /** `device list --config` and `provision batch add|revoke --config`. */
  readonly readHubTarget?: HubTargetReader;
}

/**
 * Registers `ca init|server-cert|crl|issuing init`, `device add|list|export`
 * and `provision ...` on `program`; `hooks` give commands their `--config`.
 */
export function registerPkiCommands(program: Command, hooks: PkiCommandHooks = {}): void {
  const ca = program.command('ca').description('the certificate authority: create it, issue the hub\'s server certificate, write the CRL');
  examples(ca, ['fleethub ca init --name "Acme sensors CA"', 'fleethub ca server-cert --host hub.example.com']);
  registerCaInitCommand(ca);
  registerCaServerCertCommand(ca);
  registerCaCrlCommand(ca);
  registerCaIssuingCommand(ca);
  const device = program.command('device').description('device certificates: add, list, revoke, export');
  examples(device, ['fleethub device add greenhouse-01', 'fleethub device export greenhouse-01 --format esp32 --out fleethub_credentials.h']);
  registerDeviceAddCommand(device, hooks.readHubConfig);
  registerDeviceListCommand(device, hooks.readHubTarget);
  registerDeviceExportCommand(device);
  const provision = program.command('provision').description('zero-touch provisioning by claim: factory batches, their claim certificates, resets');
  examples(provision, ['fleethub provision batch add line-7 --ids-file ids.txt', 'fleethub provision export line-7 --format esp32 --out fleethub_claim.h']);
  registerProvisionBatchCommands(provision, hooks.readHubTarget);
}
