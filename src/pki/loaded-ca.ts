/**
 * Loading the CA to sign with. Apart from ca.ts (which makes the CA and
 * writes its first CRL through revocation.ts), so that revocation.ts and
 * ca.ts do not import each other.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { FleethubError } from '../errors.js';
import { issuerFrom, type Issuer } from './certificate.js';
import { pkiPaths } from './paths.js';
import { replacementInterrupted } from './pki-archive.js';
import { exists, readText } from './pki-files.js';

/** A loaded CA, ready to sign. */
export interface LoadedCa {
  readonly certPem: string;
  readonly cert: X509Certificate;
  readonly key: KeyObject;
  readonly issuer: Issuer;
}

/** Loads `ca.crt` and `ca.key`; FH_ERR_CA_MISSING when there is no CA. */
export async function loadCa(dir: string): Promise<LoadedCa> {
  const paths = pkiPaths(dir);
  if (!(await exists(paths.caCert)) || !(await exists(paths.caKey))) {
    if (await replacementInterrupted(paths.dir)) {
      throw new FleethubError('FH_ERR_CA_MISSING', `no CA in ${paths.dir}: a "ca init --force" was interrupted; run "fleethub ca init --pki ${paths.dir}" to finish it`);
    }
    throw new FleethubError('FH_ERR_CA_MISSING', `no CA in ${paths.dir}: run "fleethub ca init --pki ${paths.dir}" first`);
  }
  const certPem = await readText(paths.caCert);
  const keyPem = await readText(paths.caKey);
  try {
    const cert = new X509Certificate(certPem);
    const key = createPrivateKey(keyPem);
    if (!cert.checkPrivateKey(key)) throw new Error('ca.key does not match ca.crt');
    return { certPem, cert, key, issuer: issuerFrom(certPem, key) };
  } catch (err) {
    throw new FleethubError('FH_ERR_PKI_IO', `cannot load the CA in ${paths.dir}: ${(err as Error).message}`, { cause: err });
  }
}
