/**
 * irc-framework's TCP/TLS transport with a leaner read path. The bridge always speaks Latin-1 on
 * the wire (text is decoded later, as UTF-8 or Windows-1252), so a line is one `latin1` string
 * made straight from the socket's buffer: no concatenation of every chunk with the rest, no
 * Buffer per line, no iconv call per line. With many puppets in busy channels every line
 * arrives once per connection, so this is on the hot path.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import NetTransport from 'irc-framework/src/transports/net';

const EMPTY = Buffer.alloc(0);
/** irc-framework's state for a socket that is connecting. */
const SOCK_CONNECTING = 1;
/**
 * One buffer every connection reads into (Node's `onread`). Without it each read of each socket
 * allocates its own buffer, freed only by the garbage collector: with thousands of puppets in
 * a join storm that is tens of thousands of allocations a second, and the C heap they
 * fragment stays in RSS. Sharing one is safe: a read is handled (lines cut and copied out) in
 * its callback before the next read of any socket starts, and nothing keeps a reference to it.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
/** Longer than any IRC line (512 bytes of message plus 8191 of tags): a server that sends more
 *  without a newline is broken or hostile, and what it sent is not kept growing. */
export const MAX_LINE_BYTES = 16_384;

export class LatinLineTransport extends NetTransport {
  /** The start of a line whose end has not arrived yet. */
  private rest: Buffer = EMPTY;
  /** Set by the connection: whether the line buf[start, end) (without its LF) can be dropped
   *  from the bytes alone, before a string is made of it. */
  dropRaw: ((buf: Buffer, start: number, end: number) => boolean) | null = null;

  /** irc-framework's connect() for a direct connection (no SOCKS proxy), reading through
   *  READ_BUFFER; with a proxy, irc-framework's own. */
  override connect(): void {
    const o = this.options;
    if (o.socks) {
      super.connect();
      return;
    }
    const host = String(o.host);
    const port = Number(o.port ?? 6667);
    this.disposeSocket();
    this.requested_disconnect = false;
    this.incoming_buffer = EMPTY;
    this.rest = EMPTY;
    if (typeof o.encoding !== 'string' || !this.setEncoding(o.encoding)) {
      this.setEncoding('utf8');
    }
    this.state = SOCK_CONNECTING;
    const onread = {
      buffer: READ_BUFFER,
      callback: (n: number, buf: Buffer): boolean => {
        this.onSocketData(buf.subarray(0, n));
        return true;
      },
    };
    const localAddress = o.outgoing_addr as string | undefined;
    const family = this.getAddressFamily(o.outgoing_addr);
    const certificate = o.client_certificate as { private_key?: string; certificate?: string } | undefined;
    const socket = o.tls || o.ssl
      ? tls.connect({
        // SNI only for a name, as irc-framework does
        servername: this.getAddressFamily(host) ? undefined : host,
        host, port, rejectUnauthorized: o.rejectUnauthorized as boolean | undefined,
        key: certificate?.private_key, cert: certificate?.certificate, localAddress, family, onread,
      } as tls.ConnectionOptions)
      : net.connect({ host, port, localAddress, family, onread } as net.NetConnectOpts);
    this.socket = socket;
    this._onSocketCreate(o, socket);
  }

  override onSocketData(data: Buffer): void {
    const buf = this.rest.length === 0 ? data : Buffer.concat([this.rest, data]);
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(0x0a, start);
      if (nl < 0) {
        break;
      }
      // Like irc-framework's own transport, the line keeps its CR LF; the parser strips it.
      if (this.dropRaw === null || !this.dropRaw(buf, start, nl)) {
        this.emit('line', buf.toString('latin1', start, nl + 1));
      }
      start = nl + 1;
    }
    // A copy, so that a small remainder does not keep a large chunk alive.
    this.rest = start >= buf.length ? EMPTY : Buffer.from(buf.subarray(start));
    if (this.rest.length > MAX_LINE_BYTES) {
      this.emit('debug', `dropped ${this.rest.length} bytes without a line end`);
      this.rest = EMPTY; // the rest of that line, when its newline comes, is dropped as junk by the parser
    }
  }
}
