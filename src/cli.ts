/**
 * The `fleethub` executable: wires each area's commands into one commander
 * program. Nothing imports this file.
 */
import { Command, CommanderError } from 'commander';
import { EXIT } from './errors.js';
import { registerPkiCommands } from './pki/commands/index.js';
import { loadHubConfig } from './hub/config-file.js';
import { renewalPolicy } from './hub/renewal/renewal-config.js';
import { registerTokenCommands } from './hub/console/token-command.js';
import { registerDeviceControlCommands } from './hub/console/device-control-command.js';
import { registerServeCommand } from './serve-command.js';
import { registerResetSeqCommand } from './reset-seq-command.js';
import { registerDeviceRevokeCommand } from './revoke-command.js';
import { registerProvisionResetCommand } from './provision-reset-command.js';
import { readHubTarget } from './hub-target.js';
import { registerSimCommand } from '../firmware-sim/sim-command.js';

/** Builds the program; exported for tests that want to inspect the help. */
export function buildProgram(): Command {
  const program = new Command('fleethub')
    .description('IoT telemetry hub for ESP32 fleets: mutual-TLS WebSockets, durable store, bridges, live dashboards')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerPkiCommands(program, {
    // `device add --config`: the hub's PKI folder and whether it renews decide the default lifetime.
    readHubConfig: async (path) => {
      const { hub } = await loadHubConfig(path);
      return { pkiDir: hub.pkiDir, renewal: renewalPolicy(hub.renewal) };
    },
    // `device list` and `provision batch add|revoke --config`: a cluster hub's view, and the publish to its cluster.
    readHubTarget,
  });
  registerDeviceRevokeCommand(program);
  registerProvisionResetCommand(program);
  registerTokenCommands(program);
  registerServeCommand(program);
  registerResetSeqCommand(program);
  registerDeviceControlCommands(program);
  registerSimCommand(program);
  return program;
}

async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version "fail" with exit code 0.
      process.exitCode = err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
      return;
    }
    throw err;
  }
}

// `fleethub device list | head` closes our stdout early: that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

await main(process.argv);
