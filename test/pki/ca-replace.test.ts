/**
 * `ca init --force` starts a new PKI, through the real CLI: the old CA,
 * server certificate, CRL, inventory and devices/ move to
 * `replaced-<time>/` (keys still 0600, nothing deleted), `device list` is
 * empty, `token.key` stays, and a TLS server built from the new PKI refuses
 * a device of the old CA. Also the states a crash part-way through can
 * leave, and how the next `ca init` deals with them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { connect, createServer, type Server } from 'node:tls';
import { runCli, type CliResult } from '../helpers/cli.js';
import { EXIT } from '../../src/errors.js';
import { addDevice, initCa, issueServerCert, parseCrl, pkiPaths, REPLACED_DIR_PREFIX, revokeDevice } from '../../src/pki/index.js';
import { REPLACING_JOURNAL, replacedDirName } from '../../src/pki/pki-archive.js';

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

async function tempPki(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const work = await mkdtemp(join(tmpdir(), 'fleethub-replace-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  return join(work, 'certs');
}

/** Runs the CLI and fails the test on a non-zero exit. */
async function ok(args: string[]): Promise<CliResult> {
  const res = await runCli(args, { env: { FLEETHUB_PKI: undefined } });
  assert.equal(res.code, 0, `fleethub ${args.join(' ')}: ${res.stderr}`);
  return res;
}

/** A PKI with a server certificate, two devices (one revoked) and a dashboard token key, made by the CLI. */
async function oldPki(pki: string): Promise<void> {
  await ok(['ca', 'init', '--name', 'Old fleet CA', '--pki', pki]);
  await ok(['ca', 'server-cert', '--host', 'localhost', '--ip', '127.0.0.1', '--pki', pki]);
  await ok(['device', 'add', 'old-1', '--pki', pki]);
  await ok(['device', 'add', 'old-2', '--pki', pki]);
  await ok(['device', 'revoke', 'old-2', '--pki', pki]);
  await ok(['token', 'create', '--devices', '*', '--pki', pki]);
}

/** A TLS server configured like the device listener from the PKI folder's files; answers `<verdict> <CN>`. */
async function deviceTlsServer(pki: string, rejectUnauthorized: boolean): Promise<{ server: Server; port: number }> {
  const paths = pkiPaths(pki);
  const [ca, cert, key, crl] = await Promise.all([paths.caCert, paths.serverCert, paths.serverKey, paths.crl].map((p) => readFile(p, 'utf8')));
  const server = createServer({ ca, cert, key, crl, requestCert: true, rejectUnauthorized }, (socket) => {
    const verdict = socket.authorized ? 'OK' : String((socket.authorizationError as { code?: string } | null)?.code ?? socket.authorizationError);
    socket.end(`${verdict} ${String(socket.getPeerCertificate().subject?.CN)}\n`);
  });
  server.on('tlsClientError', () => {}); // refused handshakes are expected here
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** Connects with a device's files; resolves with the server's answer, or null when the handshake was refused. */
function tryDevice(port: number, caPem: string, certPem: string, keyPem: string): Promise<string | null> {
  return new Promise((resolve) => {
    let data = '';
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: caPem, cert: certPem, key: keyPem });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => { data += chunk; });
    socket.on('error', () => {});
    socket.on('close', () => resolve(data.endsWith('\n') ? data.trim() : null));
  });
}

/** The same PKI made with the library (quicker), for the crash-state tests. */
async function oldPkiFast(pki: string): Promise<void> {
  await initCa(pki, { name: 'Old fleet CA' });
  await issueServerCert(pki, { hosts: ['localhost'], ips: ['127.0.0.1'] });
  await addDevice(pki, 'old-1');
  await addDevice(pki, 'old-2');
  await revokeDevice(pki, 'old-2');
}

const closeServer = (s: Server): Promise<void> => new Promise((resolve) => s.close(() => resolve()));

const OLD_FILES = ['ca.key', 'ca.crt', 'server.key', 'server.crt', 'crl.pem', 'inventory.json', 'devices'];

test('ca init --force moves the old PKI to replaced-<time>/, keeps token.key, and old devices are refused', async (t) => {
  const pki = await tempPki(t);
  const paths = pkiPaths(pki);
  await oldPki(pki);
  const before = {
    caKey: await readFile(paths.caKey, 'utf8'),
    caCert: await readFile(paths.caCert, 'utf8'),
    serverKey: await readFile(paths.serverKey, 'utf8'),
    deviceCert: await readFile(paths.deviceCert('old-1'), 'utf8'),
    deviceKey: await readFile(paths.deviceKey('old-1'), 'utf8'),
    tokenKey: await readFile(paths.tokenKey),
  };

  const refused = await runCli(['ca', 'init', '--pki', pki]);
  assert.equal(refused.code, EXIT.CONFLICT, 'without --force the CA stays');
  assert.match(refused.stderr, /^fleethub: a CA already exists[^\n]*--force[^\n]*\n$/);

  const forced = await ok(['ca', 'init', '--force', '--name', 'New fleet CA', '--pki', pki]);
  const lines = forced.stdout.trim().split('\n');
  assert.equal(lines.length, 2, forced.stdout);
  const moved = /^moved the previous PKI \(([^)]*)\) to (\S+): every device needs a new certificate/.exec(lines[0] ?? '');
  assert.ok(moved, lines[0]);
  assert.equal(moved[1], 'ca.key ca.crt server.key server.crt crl.pem inventory.json devices/');
  const archive = moved[2] as string;
  assert.equal(dirname(archive), paths.dir);
  assert.match(archive, new RegExp(`/${REPLACED_DIR_PREFIX}\\d{8}T\\d{6}Z$`));
  assert.match(lines[1] ?? '', /^created CA /);

  // The archive: 0700, every old file, keys still 0600 and unchanged.
  assert.equal(await mode(archive), 0o700);
  assert.deepEqual((await readdir(archive)).sort(), [...OLD_FILES].sort());
  assert.deepEqual((await readdir(join(archive, 'devices'))).sort(), ['old-1.crt', 'old-1.key', 'old-2.crt', 'old-2.key']);
  for (const key of ['ca.key', 'server.key', 'devices/old-1.key', 'devices/old-2.key']) assert.equal(await mode(join(archive, key)), 0o600, key);
  assert.equal(await readFile(join(archive, 'ca.key'), 'utf8'), before.caKey);
  assert.equal(await readFile(join(archive, 'ca.crt'), 'utf8'), before.caCert);
  assert.equal(await readFile(join(archive, 'server.key'), 'utf8'), before.serverKey);
  assert.equal(await readFile(join(archive, 'devices', 'old-1.key'), 'utf8'), before.deviceKey);
  assert.match(await readFile(join(archive, 'inventory.json'), 'utf8'), /"old-1"/);

  // The new PKI: a new CA, an empty CRL from it (CRL #1 of the new CA, recorded in a new inventory), no devices; token.key untouched.
  assert.deepEqual((await readdir(paths.dir)).sort(), ['ca.crt', 'ca.key', 'crl.pem', 'inventory.json', archive.slice(paths.dir.length + 1), 'token.key'].sort());
  assert.equal(parseCrl(await readFile(paths.crl, 'utf8')).number, 1);
  const newCa = new X509Certificate(await readFile(paths.caCert));
  assert.equal(newCa.subject, 'CN=New fleet CA');
  assert.equal(await mode(paths.caKey), 0o600);
  assert.equal(parseCrl(await readFile(paths.crl, 'utf8')).serials.size, 0);
  assert.deepEqual(await readFile(paths.tokenKey), before.tokenKey);
  assert.equal(await mode(paths.tokenKey), 0o600);
  const list = await ok(['device', 'list', '--json', '--pki', pki]);
  assert.deepEqual(JSON.parse(list.stdout), []);

  // A hub built from the new PKI refuses the old CA's device, and accepts a new one.
  await ok(['ca', 'server-cert', '--host', 'localhost', '--ip', '127.0.0.1', '--pki', pki]);
  await ok(['device', 'add', 'new-1', '--pki', pki]);
  const ca = await readFile(paths.caCert, 'utf8');
  const strict = await deviceTlsServer(pki, true);
  const lenient = await deviceTlsServer(pki, false);
  t.after(async () => {
    await closeServer(strict.server);
    await closeServer(lenient.server);
  });
  assert.equal(await tryDevice(strict.port, ca, before.deviceCert, before.deviceKey), null, 'old device refused');
  assert.match(await tryDevice(lenient.port, ca, before.deviceCert, before.deviceKey) ?? '', /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY) old-1$/);
  const fresh = { cert: await readFile(paths.deviceCert('new-1'), 'utf8'), key: await readFile(paths.deviceKey('new-1'), 'utf8') };
  assert.equal(await tryDevice(strict.port, ca, fresh.cert, fresh.key), 'OK new-1');
});

test('a crash after the CA moved: other commands stop, the next ca init finishes into the same folder', async (t) => {
  const pki = await tempPki(t);
  const paths = pkiPaths(pki);
  await oldPkiFast(pki);
  // What an interrupted replacement leaves once its first renames happened: the journal, and the CA in the archive.
  const name = replacedDirName(new Date());
  await mkdir(join(pki, name), { mode: 0o700 });
  await writeFile(join(pki, REPLACING_JOURNAL), `${name}\n`);
  await rename(paths.caKey, join(pki, name, 'ca.key'));
  await rename(paths.caCert, join(pki, name, 'ca.crt'));

  for (const args of [['device', 'add', 'old-3'], ['device', 'list'], ['ca', 'server-cert', '--host', 'localhost', '--force']]) {
    const res = await runCli([...args, '--pki', pki]);
    assert.equal(res.code, EXIT.NOT_FOUND, args.join(' '));
    assert.match(res.stderr, /^fleethub: no CA in [^\n]*interrupted[^\n]*fleethub ca init[^\n]*\n$/, res.stderr);
  }
  const finish = await ok(['ca', 'init', '--pki', pki]);
  assert.match(finish.stdout, new RegExp(`^moved the previous PKI \\(server\\.key server\\.crt crl\\.pem inventory\\.json devices/\\) to \\S+/${name}:`));
  assert.deepEqual((await readdir(join(pki, name))).sort(), [...OLD_FILES].sort(), 'the whole old PKI in one folder');
  assert.deepEqual((await readdir(pki)).filter((f) => f.startsWith('replaced-') || f.startsWith('.')), [name]);
  assert.deepEqual(JSON.parse((await ok(['device', 'list', '--json', '--pki', pki])).stdout), []);
});

test('a crash before the first rename leaves the old PKI usable; --force then starts over', async (t) => {
  const pki = await tempPki(t);
  await oldPkiFast(pki);
  const stale = replacedDirName(new Date(Date.now() - 60_000));
  await mkdir(join(pki, stale), { mode: 0o700 });
  await writeFile(join(pki, REPLACING_JOURNAL), `${stale}\n`);

  const list = JSON.parse((await ok(['device', 'list', '--json', '--pki', pki])).stdout) as Array<{ id: string; status: string }>;
  assert.deepEqual(list.map((d) => [d.id, d.status]), [['old-1', 'active'], ['old-2', 'revoked']]);
  await ok(['device', 'add', 'old-3', '--pki', pki]);
  assert.equal((await runCli(['ca', 'init', '--pki', pki])).code, EXIT.CONFLICT, 'a stale journal never replaces a CA without --force');

  const forced = await ok(['ca', 'init', '--force', '--pki', pki]);
  const archive = /to (\S+):/.exec(forced.stdout)?.[1] ?? '';
  assert.deepEqual((await readdir(archive)).sort(), [...OLD_FILES].sort());
  const left = (await readdir(pki)).filter((f) => f.startsWith('replaced-') || f.startsWith('.'));
  assert.deepEqual(left, [archive.slice(pki.length + 1)], 'the stale empty folder and the journal are gone');
});

test('ca init on a folder without a CA moves leftovers of an old PKI away; on an empty one it moves nothing', async (t) => {
  const pki = await tempPki(t);
  await oldPkiFast(pki);
  const paths = pkiPaths(pki);
  await rm(paths.caKey);
  await rm(paths.caCert);
  const res = await ok(['ca', 'init', '--pki', pki]);
  assert.match(res.stdout, /^moved the previous PKI \(server\.key server\.crt crl\.pem inventory\.json devices\/\) to /);
  assert.deepEqual(JSON.parse((await ok(['device', 'list', '--json', '--pki', pki])).stdout), []);

  const empty = await tempPki(t);
  const first = await ok(['ca', 'init', '--force', '--pki', empty]);
  assert.match(first.stdout, /^created CA [^\n]*\n$/);
  assert.deepEqual((await readdir(empty)).filter((f) => f.startsWith('replaced-')), []);
});
