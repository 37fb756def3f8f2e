// The programs the tests run for real: Mosquitto, InfluxDB 1.x, Chromium,
// OpenSSL, gcc with mbedTLS (the C device client in firmware/), iproute2's ss, and for cluster mode nats-server and HAProxy. A missing one is installed with apt-get when we can (root
// on Debian, as on a fresh development machine or in CI), else the run stops
// with the command to type. The tests never skip for a missing service.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const NEEDED = [
  { binary: '/usr/sbin/mosquitto', pkg: 'mosquitto' },
  { binary: '/usr/bin/influxd', pkg: 'influxdb' },
  { binary: '/usr/bin/chromium', pkg: 'chromium' },
  { binary: '/usr/bin/openssl', pkg: 'openssl' },
  { binary: '/usr/bin/gcc', pkg: 'gcc' },
  { binary: '/usr/bin/make', pkg: 'make' },
  { binary: '/usr/include/mbedtls/ssl.h', pkg: 'libmbedtls-dev' },
  { binary: '/usr/sbin/nats-server', pkg: 'nats-server' },
  { binary: '/usr/sbin/haproxy', pkg: 'haproxy' },
  // `ss` reads a listening socket's accept queue from the kernel (test/hub/listen-backlog.test.ts).
  { binary: '/bin/ss', pkg: 'iproute2' },
];

/** Installs what is missing, or exits with the command that would. */
export function ensureTestServices() {
  const missing = NEEDED.filter((n) => !existsSync(n.binary)).map((n) => n.pkg);
  if (missing.length === 0) return;
  const command = `apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  const canInstall = process.getuid?.() === 0 && existsSync('/usr/bin/apt-get');
  if (!canInstall) {
    process.stderr.write(`run-tests: the tests need ${missing.join(', ')}; install them with: sudo ${command}\n`);
    process.exit(1);
  }
  process.stdout.write(`run-tests: installing ${missing.join(', ')} (Debian packages the tests run for real)\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', ...missing]]) {
    const run = spawnSync('apt-get', args, { stdio: 'inherit', env });
    if (run.status !== 0) {
      process.stderr.write(`run-tests: apt-get ${args.join(' ')} failed\n`);
      process.exit(1);
    }
  }
  // The packages start their system services; the tests start their own on free ports.
  spawnSync('systemctl', ['stop', 'mosquitto', 'influxdb', 'nats-server', 'haproxy'], { stdio: 'ignore' });
}
