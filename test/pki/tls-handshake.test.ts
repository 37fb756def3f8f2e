/**
 * The certificates work where it matters: a Node `tls` server configured like
 * the hub's device listener (issued server certificate, requestCert, the CA
 * and crl.pem) accepts a device and refuses a revoked one, one from another
 * CA, an expired one and the server certificate used as a client
 * certificate, for both key types, over TLS 1.2 and TLS 1.3. A second server
 * with rejectUnauthorized off reports OpenSSL's verdict, so each refusal is
 * shown to happen for the right reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { connect, createServer, type SecureVersion, type Server } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { makeTestPki, type DeviceCredentials, type TestPki } from '../helpers/pki.js';
import { pkiPaths } from '../../src/pki/index.js';

/** Starts a server like the device listener; it answers `<authorizationError or OK> <CN>` and closes. */
async function startServer(pki: TestPki, rejectUnauthorized: boolean): Promise<{ server: Server; port: number }> {
  const crl = await readFile(pkiPaths(pki.dir).crl, 'utf8');
  const server = createServer({
    key: pki.server.key, cert: pki.server.cert, ca: pki.ca, crl, requestCert: true, rejectUnauthorized,
  }, (socket) => {
    const verdict = socket.authorized ? 'OK' : String((socket.authorizationError as { code?: string } | null)?.code ?? socket.authorizationError);
    socket.end(`${verdict} ${String(socket.getPeerCertificate().subject?.CN)}\n`);
  });
  server.on('tlsClientError', () => {}); // refused handshakes are expected here
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** Connects with `creds`; resolves with the server's answer line, or null when the connection was refused. */
async function tryClient(port: number, pki: TestPki, creds: DeviceCredentials, version: SecureVersion): Promise<string | null> {
  return new Promise((resolve) => {
    let data = '';
    const socket = connect({
      host: '127.0.0.1', port, servername: 'localhost', ca: pki.ca, cert: creds.cert, key: creds.key,
      minVersion: version, maxVersion: version,
    });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => { data += chunk; });
    socket.on('error', () => {}); // a refusal surfaces as a reset or hang-up: the answer is what counts
    socket.on('close', () => resolve(data.endsWith('\n') ? data.trim() : null));
  });
}

const close = (s: Server): Promise<void> => new Promise((resolve) => s.close(() => resolve()));

for (const keyType of ['ec', 'rsa'] as const) {
  test(`device listener TLS with ${keyType} keys`, async (t) => {
    const pki = await makeTestPki({ keyType });
    const good = await pki.addDevice('good-1');
    const revoked = await pki.addDevice('revoked-1');
    await pki.revoke('revoked-1');
    const cases: Array<[string, DeviceCredentials, string]> = [
      ['a revoked device (CRL)', revoked, 'CERT_REVOKED'],
      ['a device of another CA with the same name', await pki.otherCaDevice('good-1'), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERT_SIGNATURE_FAILURE'],
      ['an expired device', await pki.expiredDevice('old-1'), 'CERT_HAS_EXPIRED'],
      ['the server certificate as a client certificate', pki.serverCertAsClient(), 'INVALID_PURPOSE'],
    ];
    const strict = await startServer(pki, true);
    const lenient = await startServer(pki, false);
    t.after(async () => {
      await close(strict.server);
      await close(lenient.server);
      await pki.cleanup();
    });
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      await t.test(`${version}: accepts an issued device, CN = id`, async () => {
        assert.equal(await tryClient(strict.port, pki, good, version), 'OK good-1');
      });
      for (const [what, creds, reason] of cases) {
        await t.test(`${version}: refuses ${what}`, async () => {
          assert.equal(await tryClient(strict.port, pki, creds, version), null);
          const verdict = await tryClient(lenient.port, pki, creds, version);
          assert.match(verdict ?? '', new RegExp(`^(${reason}) `));
        });
      }
    }
  });
}
