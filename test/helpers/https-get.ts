/**
 * A GET over HTTPS trusting the test CA, for the tests that read the
 * console's routes (`/healthz`, `/metrics`, the history route).
 */
import { request as httpsRequest } from 'node:https';

/** What a GET answered. */
export interface HttpsAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** Options of {@link httpsGet}. */
export interface HttpsGetOptions {
  /** @defaultValue none */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * A connection of its own, closed after the answer: no kept-alive socket
   * is left to the server (a test that closes the hub next).
   * @defaultValue false: Node's global agent
   */
  readonly ownConnection?: boolean;
}

/** GETs `url` trusting `ca`: status, headers and body. */
export function httpsGet(url: string, ca: string, options: HttpsGetOptions = {}): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, headers: { ...options.headers }, ...(options.ownConnection === true ? { agent: false } : {}) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
