/**
 * The web dashboard's static files (`page/`: plain HTML, CSS and browser JS,
 * no build step) and the security headers they are served with.
 *
 * The build (`scripts/compile.mjs`) copies `page/` next to the compiled
 * module; the package's own `src/hub/console/page/` is the fallback for a
 * `dist/` built by a bare `tsc`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One file of the page, read once at start. */
export interface PageAsset {
  readonly body: Buffer;
  readonly contentType: string;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Where the page files are: beside this module, else in the package's source. */
export function pageFolder(): string {
  const candidates = [new URL('./page/', import.meta.url), new URL('../../../../src/hub/console/page/', import.meta.url)];
  for (const candidate of candidates) {
    const path = fileURLToPath(candidate);
    if (existsSync(join(path, 'index.html'))) return path;
  }
  throw new Error('dashboard page files not found (expected src/hub/console/page/index.html)');
}

/** Reads every page file into memory: URL path → asset. `/` serves `index.html`. */
export function loadPageAssets(folder: string = pageFolder()): ReadonlyMap<string, PageAsset> {
  const assets = new Map<string, PageAsset>();
  for (const name of readdirSync(folder)) {
    const contentType = CONTENT_TYPES[extname(name)];
    if (contentType === undefined) continue;
    const asset = { body: readFileSync(join(folder, name)), contentType };
    assets.set(`/${name}`, asset);
    if (name === 'index.html') assets.set('/', asset);
  }
  return assets;
}

const HOST_PATTERN = /^[A-Za-z0-9.\-[\]:]{1,255}$/;

/**
 * Security headers for every console response. The CSP allows only the
 * hub's own files: no inline script or style, no framing (clickjacking), no
 * plugins, and WebSockets only back to this host. `'self'` covers `wss:` to
 * the same host in CSP Level 3 browsers; the explicit `wss://host` serves
 * older ones. The Host header is only echoed when it is a plain host name.
 */
export function securityHeaders(host: string | undefined): Record<string, string> {
  const wss = host !== undefined && HOST_PATTERN.test(host) ? ` wss://${host}` : '';
  return {
    'Content-Security-Policy': [
      "default-src 'self'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self'",
      `connect-src 'self'${wss}`,
      "object-src 'none'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; '),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Cache-Control': 'no-cache',
  };
}
