/**
 * The hub's first run (SPEC: Configuration, "`./certs` created on first run,
 * with a dev CA and a localhost server certificate").
 */
import { initCa, issueServerCert } from './ca.js';
import { pkiPaths } from './paths.js';
import { exists } from './pki-files.js';

/** SANs of the development server certificate. */
export const DEVELOPMENT_HOSTS = ['localhost'];
export const DEVELOPMENT_IPS = ['127.0.0.1', '::1'];

/**
 * When `ca.crt` is missing: creates a CA named "fleethub development CA", a
 * server certificate for localhost/127.0.0.1/::1 and an empty CRL. When a CA
 * exists but no server certificate, issues only the latter. Never replaces
 * a CA. `created` tells the caller to say so plainly in its log; `replaced`
 * is where files of a previous PKI without a CA went (see pki-archive.ts),
 * or null.
 */
export async function ensureDevelopmentPki(dir: string): Promise<{ created: boolean; replaced: string | null }> {
  const paths = pkiPaths(dir);
  let created = false;
  let replaced: string | null = null;
  if (!(await exists(paths.caCert))) {
    replaced = (await initCa(paths.dir, { name: 'fleethub development CA' })).replaced?.dir ?? null;
    created = true;
  }
  if (!(await exists(paths.serverCert))) {
    await issueServerCert(paths.dir, { hosts: DEVELOPMENT_HOSTS, ips: DEVELOPMENT_IPS });
    created = true;
  }
  return { created, replaced };
}
