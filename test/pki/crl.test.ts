/**
 * The CRL builder and parser (pure): what `buildCrl` signs is what
 * `revokedSerials`/`parseCrl` read back, in the serial format Node prints.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { buildCrl, crlSignedBy, parseCrl, resolveRevocationReason, revokedSerials } from '../../src/pki/crl.js';
import { issueCertificate, issuerFrom } from '../../src/pki/certificate.js';
import { validityFor } from '../../src/pki/validity.js';

function testIssuer() {
  const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ca = issueCertificate({ profile: 'ca', commonName: 'crl test', publicKey: keys.publicKey, selfKey: keys.privateKey, validity: validityFor(10, new Date()) });
  return { ca, issuer: issuerFrom(ca.pem, keys.privateKey) };
}

test('buildCrl → parseCrl round trip', () => {
  const { issuer } = testIssuer();
  const thisUpdate = new Date('2030-01-02T03:04:05Z');
  const nextUpdate = new Date('2055-01-01T00:00:00Z'); // GeneralizedTime from 2050 (RFC 5280 §5.1.2.5)
  const pem = buildCrl(issuer, [
    { serial: '1A2B3C4D5E6F70811A2B3C4D5E6F7081', revokedAt: new Date('2030-01-01T00:00:00Z'), reason: 'keyCompromise' },
    { serial: '7F', revokedAt: new Date('2030-01-01T00:00:00Z'), reason: 'unspecified' },
    { serial: '80', revokedAt: new Date('2030-01-01T00:00:00Z'), reason: 'superseded' }, // needs a sign byte in DER
  ], { number: 70_000, thisUpdate, nextUpdate });
  const info = parseCrl(pem);
  assert.equal(info.number, 70_000);
  assert.equal(info.thisUpdate.toISOString(), thisUpdate.toISOString());
  assert.equal(info.nextUpdate?.toISOString(), nextUpdate.toISOString());
  assert.deepEqual([...info.serials], ['1A2B3C4D5E6F70811A2B3C4D5E6F7081', '7F', '80']);
  assert.deepEqual(revokedSerials(pem), info.serials);
});

test('an empty CRL lists nothing; serials match X509Certificate.serialNumber', () => {
  const { ca, issuer } = testIssuer();
  const empty = buildCrl(issuer, [], { number: 1, thisUpdate: new Date(), nextUpdate: new Date(Date.now() + 86_400_000) });
  assert.equal(revokedSerials(empty).size, 0);
  const listed = buildCrl(issuer, [{ serial: ca.serial, revokedAt: new Date(), reason: 'unspecified' }], { number: 2, thisUpdate: new Date(), nextUpdate: new Date(Date.now() + 86_400_000) });
  assert.ok(revokedSerials(listed).has(new X509Certificate(ca.pem).serialNumber));
});

test('crlSignedBy: true for the CA that signed it, false for another CA, a tampered or an unreadable CRL', () => {
  const one = testIssuer();
  const other = testIssuer(); // same subject name, another key
  const rsaKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rsaCa = issueCertificate({ profile: 'ca', commonName: 'crl test', publicKey: rsaKeys.publicKey, selfKey: rsaKeys.privateKey, validity: validityFor(10, new Date()) });
  const opts = { number: 1, thisUpdate: new Date(), nextUpdate: new Date(Date.now() + 86_400_000) };
  const pem = buildCrl(one.issuer, [{ serial: '7F', revokedAt: new Date(), reason: 'keyCompromise' }], opts);
  assert.equal(crlSignedBy(pem, one.ca.pem), true);
  assert.equal(crlSignedBy(pem, other.ca.pem), false);
  const rsaPem = buildCrl(issuerFrom(rsaCa.pem, rsaKeys.privateKey), [], opts);
  assert.equal(crlSignedBy(rsaPem, rsaCa.pem), true);
  assert.equal(crlSignedBy(rsaPem, one.ca.pem), false);
  // Flip one bit of the signed part (the serial 7F → 7E).
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const at = der.indexOf(Buffer.from([0x02, 0x01, 0x7f]));
  assert.ok(at > 0);
  der[at + 2] = 0x7e;
  const tampered = `-----BEGIN X509 CRL-----\n${der.toString('base64')}\n-----END X509 CRL-----\n`;
  assert.deepEqual([...parseCrl(tampered).serials], ['7E']);
  assert.equal(crlSignedBy(tampered, one.ca.pem), false);
  assert.equal(crlSignedBy('-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n', one.ca.pem), false);
});

test('malformed CRLs and unknown reasons are refused with a code', () => {
  assert.throws(() => revokedSerials('nothing here'), { code: 'FH_ERR_INVALID_ARGUMENT' });
  assert.throws(() => revokedSerials('-----BEGIN X509 CRL-----\nMAMCAQE=\n-----END X509 CRL-----\n'), { code: 'FH_ERR_INVALID_ARGUMENT' });
  assert.equal(resolveRevocationReason('KEYCOMPROMISE'), 'keyCompromise');
  assert.equal(resolveRevocationReason(undefined), 'unspecified');
  assert.throws(() => resolveRevocationReason('certificateHold'), { code: 'FH_ERR_INVALID_ARGUMENT' });
});
