/**
 * A device written by hand on a real TLS socket, for what `ws` as a client
 * will not do: send a request head byte for byte, send frames `ws` would
 * refuse to build (unmasked, invalid UTF-8), and never read what the hub
 * answers. Frames are built and parsed here (RFC 6455 §5.2).
 */
import { randomBytes } from 'node:crypto';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

/** Where and as whom to connect. */
export interface RawDeviceOptions {
  readonly port: number;
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

const WAIT_MS = 10_000;

/** The head of a WebSocket upgrade of `path` (RFC 6455 §4.1). */
export function upgradeHead(path = '/v1/device', extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
}

/** A client frame (masked with a zero key: valid, and the payload stays readable). `mask: false` breaks RFC 6455 §5.1. */
export function clientFrame(payload: string | Buffer, opts: { opcode?: number; mask?: boolean } = {}): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const mask = opts.mask ?? true;
  const first = 0x80 | (opts.opcode ?? 0x1);
  const maskBit = mask ? 0x80 : 0;
  let header: Buffer;
  if (body.length < 126) header = Buffer.from([first, maskBit | body.length]);
  else if (body.length < 0x10000) header = Buffer.from([first, maskBit | 126, body.length >> 8, body.length & 0xff]);
  else throw new Error('clientFrame: payload too large for a test frame');
  return Buffer.concat(mask ? [header, Buffer.alloc(4), body] : [header, body]);
}

/** A TLS connection to the device listener that sends what it is told and reads only when asked. */
export class RawDevice {
  readonly socket: TLSSocket;
  /** Everything read so far, up to the end of the response head (later bytes go to {@link messages}). */
  received = Buffer.alloc(0);
  /** Text messages from the hub after the response head, in order, parsed as they are read. */
  readonly messages: string[] = [];
  /** The close code the hub sent, once it did. */
  closeCode: number | null = null;
  /** Bytes after the response head not yet parsed into a whole frame. */
  #pending: Buffer | null = null;
  #closed = false;

  private constructor(socket: TLSSocket) {
    this.socket = socket;
    socket.on('close', () => (this.#closed = true));
  }

  /** Completes the TLS handshake; the socket then reads nothing until {@link read}. */
  static async connect(options: RawDeviceOptions): Promise<RawDevice> {
    const socket = tlsConnect({ host: '127.0.0.1', port: options.port, servername: 'localhost', ca: options.ca, cert: options.cert, key: options.key });
    socket.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => resolve());
      socket.once('close', () => reject(new Error('closed during the TLS handshake')));
    });
    socket.pause();
    return new RawDevice(socket);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Reads until `done(received)` holds or the socket closes (resolves either way), then stops reading again. */
  async read(done: (received: Buffer) => boolean, timeoutMs = WAIT_MS): Promise<Buffer> {
    if (done(this.received) || this.#closed) return this.received;
    await new Promise<void>((resolve, reject) => {
      const finish = (): void => {
        this.socket.pause();
        this.socket.removeListener('data', onData);
        this.socket.removeListener('close', finish);
        clearTimeout(timer);
        resolve();
      };
      const onData = (chunk: Buffer): void => {
        this.#take(chunk);
        // Paused in this tick: nothing read after the condition holds is lost.
        if (done(this.received)) finish();
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out reading; got ${this.received.length} bytes`));
      }, timeoutMs);
      this.socket.on('data', onData);
      this.socket.once('close', finish);
      this.socket.resume();
    });
    return this.received;
  }

  /** Keeps the head in {@link received}, and parses frames after it as they come (no copy of everything read per chunk). */
  #take(chunk: Buffer): void {
    if (this.#pending === null) {
      this.received = Buffer.concat([this.received, chunk]);
      const end = this.received.indexOf('\r\n\r\n');
      if (end === -1) return;
      this.#pending = this.received.subarray(end + 4);
      this.received = this.received.subarray(0, end + 4);
    } else {
      this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    }
    let at = 0;
    const data = this.#pending;
    while (at + 2 <= data.length) {
      const opcode = (data[at] as number) & 0x0f;
      let length = (data[at + 1] as number) & 0x7f;
      let start = at + 2;
      if (length === 126) {
        if (start + 2 > data.length) break;
        length = data.readUInt16BE(start);
        start += 2;
      } else if (length === 127) {
        if (start + 8 > data.length) break;
        length = Number(data.readBigUInt64BE(start));
        start += 8;
      }
      if (start + length > data.length) break;
      const payload = data.subarray(start, start + length);
      if (opcode === 0x1) this.messages.push(payload.toString('utf8'));
      if (opcode === 0x8) this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      at = start + length;
    }
    this.#pending = data.subarray(at);
  }

  /** Reads up to the end of an HTTP response head; returns its status (0 when the socket closed first). */
  async responseStatus(): Promise<number> {
    const data = await this.read((d) => d.includes('\r\n\r\n'));
    const match = /^HTTP\/1\.1 (\d{3})/.exec(data.toString('latin1'));
    return match === null ? 0 : Number(match[1]);
  }

  destroy(): void {
    this.socket.destroy();
  }
}
