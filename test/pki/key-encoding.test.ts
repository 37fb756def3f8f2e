/**
 * The hand-assembled P-256 SPKI and PKCS#8 encodings are byte-identical to
 * OpenSSL's own (`KeyObject.export`), and RSA keys fall back to the export.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { pkcs8Pem, spkiDer } from '../../src/pki/key-encoding.js';

test('P-256: SPKI and PKCS#8 equal OpenSSL output (200 random keys, short coordinates included)', () => {
  for (let i = 0; i < 200; i += 1) {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    assert.deepEqual(spkiDer(publicKey), publicKey.export({ type: 'spki', format: 'der' }));
    const pem = pkcs8Pem(privateKey);
    assert.equal(pem, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    assert.equal(createPrivateKey(pem).export({ format: 'jwk' }).d, privateKey.export({ format: 'jwk' }).d);
  }
});

test('RSA and other curves use the OpenSSL export', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  assert.deepEqual(spkiDer(rsa.publicKey), rsa.publicKey.export({ type: 'spki', format: 'der' }));
  assert.equal(pkcs8Pem(rsa.privateKey), rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  assert.deepEqual(spkiDer(p384.publicKey), p384.publicKey.export({ type: 'spki', format: 'der' }));
});
