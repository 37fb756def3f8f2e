/**
 * `fleethub device reset-seq <id>`: the way out for a device whose seqs can
 * no longer go on (it sent seq 2^53-1, or lost its counter and went back
 * below its dedupe window, where the hub nacks it `invalid_message`). The
 * store forgets the device's seqs, so `hello.lastSeq` is null and the device
 * starts again from 1; its stored readings stay. It opens the store itself,
 * so the hub must be stopped (a running hub holds the store's lock: exit 6);
 * in cluster mode (a config with `cluster`) the hubs may run, and the device
 * should be offline (a hub holding its connection keeps the seqs it has).
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { action } from './command-action.js';
import { FleethubError } from './errors.js';
import { loadHubConfig } from './hub/config-file.js';
import { isValidDeviceId } from './pki/index.js';
import { openStore } from './store/log-store.js';
import type { Store } from './store/types.js';

async function resetSeq(id: string, options: { config?: string }): Promise<void> {
  if (!isValidDeviceId(id)) throw new FleethubError('FH_ERR_INVALID_ID', `invalid device id ${JSON.stringify(id)}`);
  const { hub: config } = await loadHubConfig(options.config);
  let store: Store;
  if (config.cluster !== null) {
    // Loaded only for a cluster: every command of the CLI, `serve` among them, loads this module.
    const { openJetStreamStore } = await import('./store/jetstream-store.js');
    store = await openJetStreamStore(config.cluster, config.store);
  } else {
    if (!existsSync(config.dataDir)) throw new FleethubError('FH_ERR_STORE_IO', `store: no store in ${config.dataDir}`);
    store = await openStore(config.dataDir, config.store);
  }
  try {
    // A cluster store loads the device's state from the stream first.
    await store.openDevice(id);
    const before = store.lastSeq(id);
    if (before === null) throw new FleethubError('FH_ERR_DEVICE_UNKNOWN', `device ${id} has no seqs in the store${config.cluster === null ? ` in ${config.dataDir}` : ''}: nothing to reset`);
    await store.resetSeq(id);
    process.stdout.write(`${id}: seqs forgotten (lastSeq was ${before}); at its next connection hello.lastSeq is null and it starts again from seq 1\n`);
  } finally {
    await store.close();
  }
}

/** Registers `fleethub device reset-seq` on the `device` command. */
export function registerResetSeqCommand(program: Command): void {
  const device = program.commands.find((c) => c.name() === 'device') ?? program.command('device');
  device
    .command('reset-seq')
    .description("forget a device's seqs in the store (the hub must be stopped), so it starts again from seq 1")
    .argument('<id>', 'device id')
    .option('--config <file>', "the hub's JSON config (for dataDir); without it ./data")
    .addHelpText(
      'after',
      `
Examples:
  $ fleethub device reset-seq greenhouse-01 --config fleethub.json

Use it for a device that sent seq 9007199254740991 (2^53-1), or whose seqs went
back below its dedupe window (the hub then nacks them invalid_message). Its
stored readings stay; only the seqs the hub remembers are forgotten.`,
    )
    .action(action(resetSeq));
}
