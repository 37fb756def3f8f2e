/**
 * `fleethub sim`: the flags of SPEC "Simulator" and a few more, wired to
 * {@link runSimOrFail}. Defaults live in sim-options.ts and show in --help.
 */
import type { Command } from 'commander';
import { action } from '../src/command-action.js';
import { createLogger } from '../src/log.js';
import { DEFAULT_OUTBOX_CAPACITY } from './outbox.js';
import {
  BEHAVIORS,
  DEFAULT_SIM_CONNECT_RATE,
  DEFAULT_SIM_CONNECT_TIMEOUT_MS,
  DEFAULT_SIM_MAX_PENDING,
  DEFAULT_SIM_DEVICES,
  DEFAULT_SIM_DRAIN_TIMEOUT_MS,
  DEFAULT_SIM_DURATION_MS,
  DEFAULT_SIM_PREFIX,
  DEFAULT_SIM_RATE,
  DEFAULT_SIM_STORM_EVERY_MS,
  DEFAULT_SIM_URL,
  type SimOptionsInput,
} from './sim-options.js';
import { runSimOrFail } from './sim-run.js';

/** Flags as commander hands them over (all strings but the booleans). */
interface SimFlags {
  url: string;
  pki?: string;
  ca?: string;
  devices: string;
  prefix: string;
  rate: string;
  duration: string;
  payloadBytes: string;
  behavior: string;
  provision?: boolean;
  renew?: boolean;
  claim?: string;
  report?: string;
  reportHtml?: string;
  tls: string;
  tlsResume?: boolean;
  drainTimeout: string;
  connectRate: string;
  connectTimeout: string;
  maxPending: string;
  outbox: string;
  stormEvery: string;
  seed: string;
  localAddresses?: string;
  progress: boolean;
  verbose?: boolean;
}

const EXAMPLES = `
Examples:
  # 100 devices, certificates issued on first run, 30 s at 1 msg/s each
  $ fleethub sim --devices 100 --provision --duration 30

  # 1,000 devices at 2 msg/s against a remote hub, with JSON and HTML reports
  $ fleethub sim --url wss://hub.example.com:8443/v1/device --pki ./certs \\
      --devices 1000 --rate 2 --duration 2m --report run.json --report-html run.html

  # see the hub defend itself
  $ fleethub sim --devices 5 --behavior flood --duration 10
  $ fleethub sim --devices 5 --behavior badcert --provision --duration 10
  $ fleethub sim --claim line-7 --prefix line7- --devices 100 --duration 30

Exit status: 0; 9 (messages lost, readings never sent or dropped, or
devices never connected: checked in normal and reconnect-storm); 2 bad
flag; 3 no CA or device certificate.`;

/** Registers `sim` on the program. */
export function registerSimCommand(program: Command): void {
  program
    .command('sim')
    .description('run a fleet of simulated ESP32 devices against a hub and report what happened')
    .option('--url <url>', 'the hub device endpoint', DEFAULT_SIM_URL)
    .option('--pki <dir>', 'PKI folder with ca.crt and devices/<id>.crt|key (default: ./certs, or env FLEETHUB_PKI)')
    .option('--ca <file>', "CA certificate the hub's server certificate chains to (default: <pki>/ca.crt)")
    .option('--devices <n>', 'number of simulated devices', String(DEFAULT_SIM_DEVICES))
    .option('--prefix <p>', 'device ids <p>0001, <p>0002, … (as device add --count N --prefix P)', DEFAULT_SIM_PREFIX)
    .option('--rate <n>', 'readings per second per device', String(DEFAULT_SIM_RATE))
    .option('--duration <time>', 'sending phase, once the fleet is up: seconds, or 30s, 2m, 500ms', String(DEFAULT_SIM_DURATION_MS / 1000))
    .option('--payload-bytes <n>', 'pad each telemetry frame to at least n bytes (0: bare reading)', '0')
    .option('--behavior <name>', `one of ${BEHAVIORS.join(', ')}`, 'normal')
    .option('--provision', 'issue the missing device certificates in one batch first (badcert: also issue and revoke some)')
    .option('--claim <batch>', 'provision every device through /v1/provision with the batch\'s claim certificate first (a key and CSR made per device)')
    .option('--renew', 'renew every device\'s certificate once while streaming (a new key and CSR over protocol 2), even before the hub asks: the hub needs renewal.allowEarly')
    .option('--report <file>', 'write the report as JSON')
    .option('--report-html <file>', 'write the report as an HTML page with charts')
    .option('--tls <version>', 'TLS version the devices speak: 1.2 or 1.3', '1.2')
    .option('--tls-resume', 'resume the TLS session on reconnect (ESP-IDF esp-tls session tickets); off: a full handshake every time')
    .option('--drain-timeout <time>', 'after the sending phase, wait this long for outstanding acks', String(DEFAULT_SIM_DRAIN_TIMEOUT_MS / 1000))
    .option('--connect-rate <n>', 'new connections per second while the fleet comes up', String(DEFAULT_SIM_CONNECT_RATE))
    .option('--connect-timeout <time>', 'after the staggered start, wait at most this long for every device to connect before sending', String(DEFAULT_SIM_CONNECT_TIMEOUT_MS / 1000))
    .option('--max-pending <n>', 'while the fleet starts, connection attempts under way at once at most', String(DEFAULT_SIM_MAX_PENDING))
    .option('--outbox <n>', 'unacked readings each device keeps (oldest dropped past it; at most 4096)', String(DEFAULT_OUTBOX_CAPACITY))
    .option('--storm-every <time>', 'reconnect-storm: every device drops at once this often', String(DEFAULT_SIM_STORM_EVERY_MS / 1000))
    .option('--seed <n>', 'seed of the sensor models, for reproducible readings', '1')
    .option('--local-addresses <list>', 'comma-separated source IPs to spread connections over (e.g. 127.0.0.2,127.0.0.3)')
    .option('--no-progress', 'no live progress line on stderr')
    .option('--verbose', 'log every connection event on stderr')
    .addHelpText('after', EXAMPLES)
    .action(
      action(async (flags: SimFlags) => {
        const input: SimOptionsInput = {
          url: flags.url,
          devices: flags.devices,
          prefix: flags.prefix,
          rate: flags.rate,
          duration: flags.duration,
          payloadBytes: flags.payloadBytes,
          behavior: flags.behavior,
          provision: flags.provision === true,
          renew: flags.renew === true,
          tls: flags.tls,
          tlsResume: flags.tlsResume === true,
          drainTimeout: flags.drainTimeout,
          connectRate: flags.connectRate,
          connectTimeout: flags.connectTimeout,
          maxPending: flags.maxPending,
          outbox: flags.outbox,
          stormEvery: flags.stormEvery,
          seed: flags.seed,
          progress: flags.progress,
          ...(flags.claim === undefined ? {} : { claim: flags.claim }),
          ...(flags.pki === undefined ? {} : { pkiDir: flags.pki }),
          ...(flags.ca === undefined ? {} : { caFile: flags.ca }),
          ...(flags.report === undefined ? {} : { reportFile: flags.report }),
          ...(flags.reportHtml === undefined ? {} : { reportHtmlFile: flags.reportHtml }),
          ...(flags.localAddresses === undefined ? {} : { localAddresses: flags.localAddresses }),
        };
        // First Ctrl-C: stop sending and drain, then report; a second one kills.
        const abort = new AbortController();
        const onSigint = (): void => {
          process.stderr.write('\nsim: stopping (drain, then report); Ctrl-C again to quit now\n');
          abort.abort();
          process.off('SIGINT', onSigint);
        };
        process.on('SIGINT', onSigint);
        try {
          await runSimOrFail(input, { signal: abort.signal, logger: createLogger(flags.verbose === true ? 'debug' : 'warn') });
        } finally {
          process.off('SIGINT', onSigint);
        }
      }),
    );
}
