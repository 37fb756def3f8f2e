/**
 * The identity the hub reads on every connection (subject CN and serial),
 * straight from DER: the same answer as Node's own certificate APIs, for
 * certificates we issue and ones OpenSSL makes, and from a live TLS session.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { certificateIdentity, sessionPeerIdentity } from '../../src/pki/index.js';
import { makeTestPki, type DeviceCredentials, type TestPki } from '../helpers/pki.js';

const run = promisify(execFile);

function der(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
}

let pki: TestPki;
const devices: DeviceCredentials[] = [];

before(async () => {
  pki = await makeTestPki();
  for (let i = 0; i < 24; i += 1) devices.push(await pki.addDevice(`dev-${i}`));
});
after(() => pki.cleanup());

test('CN and serial of issued certificates match X509Certificate', () => {
  for (const device of devices) {
    const x509 = new X509Certificate(device.cert);
    assert.deepEqual(certificateIdentity(der(device.cert)), { commonName: device.id, serial: x509.serialNumber.toUpperCase() });
  }
  assert.equal(certificateIdentity(der(pki.ca)).commonName, 'fleethub test CA');
});

test('several CNs, or none, is no identity; what is not a certificate throws', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fleethub-identity-'));
  try {
    const make = async (name: string, subject: string, serial = '0x1234'): Promise<Buffer> => {
      const out = join(dir, `${name}.crt`);
      await run('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, `${name}.key`),
        '-out', out, '-days', '1', '-subj', subject, '-set_serial', serial,
      ]);
      return der(await readFile(out, 'utf8'));
    };
    // A serial with its top bit set has a 0x00 sign byte in DER; a small one is a single byte.
    for (const [name, serial, hex] of [['signed', '0x80000000000000000001', '80000000000000000001'], ['small', '5', '05']] as const) {
      const cert = await make(name, '/CN=dev-s', serial);
      assert.deepEqual(certificateIdentity(cert), { commonName: 'dev-s', serial: hex });
      assert.equal(new X509Certificate(cert).serialNumber.toUpperCase(), hex);
    }
    assert.equal(certificateIdentity(await make('two', '/CN=dev-a/CN=dev-b')).commonName, null);
    assert.equal(certificateIdentity(await make('none', '/O=Acme')).commonName, null);
    const plain = await make('plain', '/O=Acme/CN=dev-c');
    assert.deepEqual(certificateIdentity(plain), { commonName: 'dev-c', serial: new X509Certificate(plain).serialNumber.toUpperCase() });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  assert.throws(() => certificateIdentity(Buffer.from('30030201', 'hex')));
  assert.throws(() => certificateIdentity(Buffer.from('not DER at all')));
});

test('the peer identity read from the TLS session equals getPeerCertificate, full and resumed, TLS 1.2 and 1.3', async () => {
  const seen: Array<{ fromSession: ReturnType<typeof sessionPeerIdentity>; cn: unknown; serial: string; resumed: boolean }> = [];
  const server = createServer({ ca: pki.ca, cert: pki.server.cert, key: pki.server.key, requestCert: true, rejectUnauthorized: true }, (socket: TLSSocket) => {
    const session = socket.getSession();
    const cert = socket.getPeerCertificate();
    seen.push({ fromSession: session === undefined ? null : sessionPeerIdentity(session), cn: cert.subject.CN, serial: cert.serialNumber.toUpperCase(), resumed: socket.isSessionReused() });
    socket.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  try {
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      for (const device of devices.slice(0, 4)) {
        let session: Buffer | undefined;
        for (let i = 0; i < 2; i += 1) {
          const client = connect({ port, host: '127.0.0.1', ca: pki.ca, cert: device.cert, key: device.key, servername: 'localhost', minVersion: version, maxVersion: version, ...(session === undefined ? {} : { session }) });
          client.on('session', (s: Buffer) => (session = s));
          client.resume();
          await once(client, 'end');
          client.destroy();
        }
      }
    }
  } finally {
    server.close();
  }
  assert.equal(seen.length, 16);
  assert.ok(seen.some((s) => s.resumed), 'some sessions were resumed');
  for (const s of seen) assert.deepEqual(s.fromSession, { commonName: s.cn, serial: s.serial });
});
