/**
 * The HTTP agent of one sink (InfluxDB, ThingSpeak's HTTP transport): keeps
 * its connection alive between batches, as Node's global agent does, and
 * lets the sink's `close()` end that connection. On the global agent an idle
 * keep-alive socket outlives the sink (a connection the server keeps open,
 * and a file descriptor, until the agent's idle timeout).
 */
import http from 'node:http';
import https from 'node:https';

/** Idle keep-alive sockets are closed after this, as Node's global agent does (`timeout: 5000`). */
export const SINK_IDLE_SOCKET_MS = 5_000;

/** A keep-alive agent for `http:` or `https:`; `destroy()` it when the sink closes. */
export function sinkAgent(protocol: 'http:' | 'https:'): http.Agent {
  const options = { keepAlive: true, timeout: SINK_IDLE_SOCKET_MS };
  return protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
}
