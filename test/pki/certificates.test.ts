/**
 * Issued certificates as other tools see them: the real `openssl verify`
 * (with the CRL after a revoke) and Node's X509Certificate, with the
 * profile each one must have (SPEC: Device ids; issue 2).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  DEFAULT_DEVICE_DAYS, DEFAULT_SERVER_DAYS, addDevice, initCa, issueServerCert, pkiPaths, readInventory, revokeDevice,
  revokedSerials,
} from '../../src/pki/index.js';

const run = promisify(execFile);
const DAY_MS = 86_400_000;

/** `openssl verify`; resolves with its exit status and output instead of throwing. */
async function opensslVerify(args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const { stdout, stderr } = await run('openssl', ['verify', ...args]);
    return { ok: true, out: stdout + stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

async function certText(path: string): Promise<string> {
  return (await run('openssl', ['x509', '-in', path, '-noout', '-text'])).stdout;
}

for (const keyType of ['ec', 'rsa'] as const) {
  test(`${keyType}: CA, server and device certificates follow the profiles`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'fleethub-pki-test-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const paths = pkiPaths(dir);
    await initCa(dir, { name: 'Acme CA', keyType });
    await issueServerCert(dir, { hosts: ['hub.example.com', 'localhost'], ips: ['127.0.0.1', '::1'], keyType });
    const rec = await addDevice(dir, 'sensor-1', { keyType, plan: 'basic' });
    const ca = new X509Certificate(await readFile(paths.caCert));
    const server = new X509Certificate(await readFile(paths.serverCert));
    const device = new X509Certificate(await readFile(paths.deviceCert('sensor-1')));

    await t.test('openssl verify accepts them for their purpose only', async () => {
      assert.ok((await opensslVerify(['-CAfile', paths.caCert, '-purpose', 'sslclient', paths.deviceCert('sensor-1')])).ok);
      assert.ok((await opensslVerify(['-CAfile', paths.caCert, '-purpose', 'sslserver', paths.serverCert])).ok);
      assert.equal((await opensslVerify(['-CAfile', paths.caCert, '-purpose', 'sslserver', paths.deviceCert('sensor-1')])).ok, false);
      assert.equal((await opensslVerify(['-CAfile', paths.caCert, '-purpose', 'sslclient', paths.serverCert])).ok, false);
    });

    await t.test('CA: self-signed, CA:true pathlen 1 critical (it may certify one issuing CA), keyCertSign+cRLSign critical', async () => {
      assert.equal(ca.ca, true);
      assert.equal(ca.subject, 'CN=Acme CA');
      assert.ok(ca.checkIssued(ca) && ca.verify(ca.publicKey));
      const text = await certText(paths.caCert);
      assert.match(text, /Basic Constraints: critical\s+CA:TRUE, pathlen:1/);
      assert.match(text, /Key Usage: critical\s+Certificate Sign, CRL Sign\n/);
      assert.match(text, /Subject Key Identifier/);
      assert.equal(ca.publicKey.asymmetricKeyType, keyType);
    });

    await t.test('device: CN = id, CA:false, clientAuth only, SKI/AKI, issued by the CA', async () => {
      assert.equal(device.subject, 'CN=sensor-1');
      assert.equal(device.ca, false);
      assert.deepEqual(device.keyUsage, ['1.3.6.1.5.5.7.3.2']);
      assert.ok(device.checkIssued(ca) && device.verify(ca.publicKey));
      const text = await certText(paths.deviceCert('sensor-1'));
      assert.match(text, /Basic Constraints: critical\s+CA:FALSE/);
      assert.match(text, keyType === 'ec' ? /Key Usage: critical\s+Digital Signature\n/ : /Key Usage: critical\s+Digital Signature, Key Encipherment\n/);
      const ski = /Subject Key Identifier:\s+([0-9A-F:]+)/.exec(await certText(paths.caCert))?.[1];
      assert.ok(ski && text.includes(ski), 'device AKI is the CA SKI');
      assert.equal(device.publicKey.asymmetricKeyType, keyType);
    });

    await t.test('server: serverAuth only, the SANs given', () => {
      assert.deepEqual(server.keyUsage, ['1.3.6.1.5.5.7.3.1']);
      assert.equal(server.ca, false);
      assert.equal(server.subjectAltName, 'DNS:hub.example.com, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
      assert.equal(server.checkHost('hub.example.com'), 'hub.example.com');
      assert.equal(server.checkIP('127.0.0.1'), '127.0.0.1');
      const days = (Date.parse(server.validTo) - Date.now()) / DAY_MS;
      assert.ok(Math.abs(days - DEFAULT_SERVER_DAYS) < 1, `server lifetime ${days} days`);
    });

    await t.test('serial: random, positive, >= 64 bits, equal to the inventory and Node', async () => {
      assert.equal(device.serialNumber, rec.serial);
      assert.match(rec.serial, /^[1-7][0-9A-F]{31}$/); // 16 bytes, top bit clear: positive, 124+ random bits
      assert.notEqual(device.serialNumber, server.serialNumber);
      const [listed] = await readInventory(dir);
      assert.equal(listed?.serial, device.serialNumber);
      assert.equal(listed?.plan, 'basic');
      assert.equal(listed?.status, 'active');
    });

    await t.test('validity: device default, clamped to the CA lifetime, backdated for clock skew', async () => {
      const days = (Date.parse(device.validTo) - Date.now()) / DAY_MS;
      assert.ok(Math.abs(days - DEFAULT_DEVICE_DAYS) < 1 || Date.parse(device.validTo) === Date.parse(ca.validTo));
      assert.ok(Date.parse(device.validFrom) < Date.now() - 30 * 60_000);
      await addDevice(dir, 'long-lived', { keyType, days: 30_000 });
      const longLived = new X509Certificate(await readFile(paths.deviceCert('long-lived')));
      assert.equal(Date.parse(longLived.validTo), Date.parse(ca.validTo));
    });

    await t.test('after revoke, openssl verify -crl_check refuses it and accepts the others', async () => {
      await revokeDevice(dir, 'sensor-1', { reason: 'keyCompromise' });
      const crl = await readFile(paths.crl, 'utf8');
      assert.deepEqual([...revokedSerials(crl)], [rec.serial]);
      const bundle = join(dir, 'ca-and-crl.pem');
      await writeFile(bundle, (await readFile(paths.caCert, 'utf8')) + crl);
      const revoked = await opensslVerify(['-crl_check', '-CAfile', bundle, paths.deviceCert('sensor-1')]);
      assert.equal(revoked.ok, false);
      assert.match(revoked.out, /certificate revoked/);
      assert.ok((await opensslVerify(['-crl_check', '-CAfile', bundle, paths.deviceCert('long-lived')])).ok);
      assert.ok((await opensslVerify(['-crl_check', '-CAfile', bundle, paths.serverCert])).ok);
      const text = (await run('openssl', ['crl', '-in', paths.crl, '-noout', '-text'])).stdout;
      assert.match(text, /Version 2/);
      assert.match(text, /CRL Number:\s+\d+/);
      assert.match(text, /Authority Key Identifier/);
      assert.match(text, /Next Update: /);
      assert.match(text, /CRL Reason Code:\s+Key Compromise/);
    });
  });
}
