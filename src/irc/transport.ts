/**
 * irc-framework's TCP/TLS transport with a leaner read path. The bridge always speaks Latin-1 on
 * the wire (text is decoded later, as UTF-8 or Windows-1252), so a line is one `latin1` string
 * made straight from the socket's buffer: no concatenation of every chunk with the rest, no
 * Buffer per line, no iconv call per line. With many puppets in busy channels every line
 * arrives once per connection, so this is on the hot path.
 */
import NetTransport from 'irc-framework/src/transports/net';

const EMPTY = Buffer.alloc(0);
/** Longer than any IRC line (512 bytes of message plus 8191 of tags): a server that sends more
 *  without a newline is broken or hostile, and what it sent is not kept growing. */
export const MAX_LINE_BYTES = 16_384;

export class LatinLineTransport extends NetTransport {
  /** The start of a line whose end has not arrived yet. */
  private rest: Buffer = EMPTY;
  /** Set by the connection: whether the line buf[start, end) (without its LF) can be dropped
   *  from the bytes alone, before a string is made of it. */
  dropRaw: ((buf: Buffer, start: number, end: number) => boolean) | null = null;

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
