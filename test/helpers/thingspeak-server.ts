/**
 * A local stand-in for ThingSpeak's bulk update API, enforcing what the
 * documentation says (ThingSpeak "Bulk-Write JSON Data"): the channel's
 * write API key (401), the channel's minimum interval between updates (429),
 * at most 960 entries per call (413), a JSON body with `write_api_key` and
 * `updates`, each with `created_at` and at least one field (else the answer is
 * `0`, as ThingSpeak answers a write it did not take). Success is
 * `202 {"success":true}`. It records what it accepted.
 */
import http from 'node:http';

/** One accepted entry. */
export type ThingSpeakEntry = Readonly<Record<string, string | number>>;

/** Options of {@link startThingSpeakServer}. */
export interface ThingSpeakServerOptions {
  /** Channel id → write key. */
  readonly channels: Readonly<Record<number, string>>;
  /** @defaultValue 15 000 (free plans) */
  readonly minIntervalMs?: number;
  /** @defaultValue 960 */
  readonly maxEntries?: number;
}

/** What one call got back. */
export interface ThingSpeakCall {
  readonly channelId: number;
  readonly status: number;
  readonly body: string;
  readonly entries: number;
  readonly at: number;
}

/** A running server. */
export interface ThingSpeakServer {
  readonly url: string;
  /** Accepted entries per channel, in order. */
  readonly accepted: ReadonlyMap<number, ThingSpeakEntry[]>;
  /** Every call, in order. */
  readonly calls: readonly ThingSpeakCall[];
  /** Makes the next `count` calls fail: `zero` (200 with body 0), `429`, `500`, `400` (entries refused as malformed). */
  failNext(kind: 'zero' | '429' | '500' | '400', count?: number): void;
  /** While false, every call gets 503 (an outage). */
  setAvailable(available: boolean): void;
  close(): Promise<void>;
}

const ENTRY_KEYS = new Set(['created_at', 'delta_t', 'field1', 'field2', 'field3', 'field4', 'field5', 'field6', 'field7', 'field8', 'latitude', 'longitude', 'elevation', 'status']);

/** Starts the server on 127.0.0.1, port 0. */
export async function startThingSpeakServer(options: ThingSpeakServerOptions): Promise<ThingSpeakServer> {
  const minIntervalMs = options.minIntervalMs ?? 15_000;
  const maxEntries = options.maxEntries ?? 960;
  const accepted = new Map<number, ThingSpeakEntry[]>();
  const lastUpdate = new Map<number, number>();
  const calls: ThingSpeakCall[] = [];
  const failures: Array<'zero' | '429' | '500' | '400'> = [];
  let available = true;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const match = /^\/channels\/(\d+)\/bulk_update\.json$/.exec(req.url ?? '');
      const channelId = Number(match?.[1] ?? 0);
      const answer = (status: number, body: unknown, entries = 0): void => {
        const text = typeof body === 'string' ? body : JSON.stringify(body);
        calls.push({ channelId, status, body: text, entries, at: Date.now() });
        res.writeHead(status, { 'content-type': 'application/json' }).end(text);
      };
      if (!available) return answer(503, { status: '503', error: 'unavailable' });
      if (req.method !== 'POST' || match === null) return answer(404, { status: '404', error: 'not found' });
      const key = options.channels[channelId];
      if (key === undefined) return answer(404, { status: '404', error: 'channel not found' });
      let body: { write_api_key?: unknown; updates?: unknown };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString()) as typeof body;
      } catch {
        return answer(400, { status: '400', error: 'invalid JSON' });
      }
      if (body.write_api_key !== key) return answer(401, { status: '401', error: { error_code: 'error_auth_required' } });
      if (!Array.isArray(body.updates) || body.updates.length === 0) return answer(400, { status: '400', error: 'updates missing' });
      if (body.updates.length > maxEntries) return answer(413, { status: '413', error: 'too many updates' }, body.updates.length);
      const injected = failures.shift();
      if (injected === '500') return answer(500, { status: '500', error: 'internal' }, body.updates.length);
      if (injected === '400') return answer(400, { status: '400', error: 'bad request' }, body.updates.length);
      const now = Date.now();
      const last = lastUpdate.get(channelId);
      if (injected === '429' || (last !== undefined && now - last < minIntervalMs)) {
        return answer(429, { status: '429', error: 'rate limit exceeded' }, body.updates.length);
      }
      const entries = body.updates as unknown[];
      const valid = entries.every(
        (e) =>
          typeof e === 'object' && e !== null &&
          Object.keys(e).every((k) => ENTRY_KEYS.has(k)) &&
          typeof (e as Record<string, unknown>).created_at === 'string' &&
          !Number.isNaN(Date.parse((e as Record<string, string>).created_at ?? '')) &&
          Object.keys(e).some((k) => k.startsWith('field') || k === 'status'),
      );
      if (injected === 'zero' || !valid) return answer(200, '0', entries.length);
      lastUpdate.set(channelId, now);
      accepted.set(channelId, [...(accepted.get(channelId) ?? []), ...(entries as ThingSpeakEntry[])]);
      return answer(202, { success: true }, entries.length);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    accepted,
    calls,
    failNext(kind, count = 1) {
      for (let i = 0; i < count; i += 1) failures.push(kind);
    },
    setAvailable(value) {
      available = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
