/**
 * The hand-assembled P-256 SPKI and PKCS#8 encodings of generated keys are
 * byte-identical to OpenSSL's own (`KeyObject.export`), and other keys
 * (RSA, other curves, keys read from elsewhere) use the export.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { pkcs8Pem, spkiDer } from '../../src/pki/key-encoding.js';
import { generateKeys, resolveKeySpec } from '../../src/pki/keys.js';

test('generated P-256 keys: SPKI and PKCS#8 equal OpenSSL output (300 random keys, short coordinates included)', async () => {
  for (let i = 0; i < 300; i += 1) {
    const { publicKey, privateKey } = await generateKeys(resolveKeySpec('ec'));
    assert.deepEqual(spkiDer(publicKey), publicKey.export({ type: 'spki', format: 'der' }));
    const pem = pkcs8Pem(privateKey);
    assert.equal(pem, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    // The PEM is the same key: it reads back to the same private scalar.
    const back = createPrivateKey(pem);
    assert.deepEqual(back.export({ type: 'pkcs8', format: 'der' }), privateKey.export({ type: 'pkcs8', format: 'der' }));
  }
});

test('RSA and other curves use the OpenSSL export', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  assert.deepEqual(spkiDer(rsa.publicKey), rsa.publicKey.export({ type: 'spki', format: 'der' }));
  assert.equal(pkcs8Pem(rsa.privateKey), rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  assert.deepEqual(spkiDer(p384.publicKey), p384.publicKey.export({ type: 'spki', format: 'der' }));
});
