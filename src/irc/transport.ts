/**
 * The TCP/TLS socket of one IRC connection, read as lines. The bridge always speaks Latin-1 on
 * the wire (text is decoded later, as UTF-8 or Windows-1252), so a line is one `latin1` string
 * made straight from the socket's buffer: no concatenation of every chunk with the rest, no
 * Buffer per line, no iconv call per line. With many puppets in busy channels every line
 * arrives once per connection, so this is on the hot path.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { EventEmitter } from 'node:events';
import { foldTable, type CaseMapping } from './casemap';

const EMPTY = Buffer.alloc(0);
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

/**
 * What a puppet's connection lets its transport drop from the socket's bytes, before a string
 * is made of a line: someone else's JOIN, PART, QUIT or NICK, the server's LUSERS and MOTD text
 * at registration, and the topic and NAMES a join brings. Read once per chunk, and again after
 * each line that goes on.
 */
export interface RawFilter {
  /** Whether every line can go (the connection has quit and waits for no answer). */
  dropAll(): boolean;
  /** The connection's nick now, and the server's case mapping. */
  nick(): string;
  caseMapping(): CaseMapping;
  /** Called once per chunk with the number of channel lines it dropped (DROP_CHANNEL). */
  dropped(lines: number): void;
}

const JOIN = 0x4a4f494e; // the four command bytes, big-endian
const PART = 0x50415254;
const QUIT = 0x51554954;
const NICK = 0x4e49434b;
/** Numerics a puppet has no use for, as 3-digit numbers: LUSERS (250-255, 265, 266) and the
 *  MOTD's start and text (375, 372; its end, 376 or 422, still goes on). */
const SERVER_NUMERICS = new Set([250, 251, 252, 253, 254, 255, 265, 266, 372, 375]);
/** ... and what joining a channel brings: topic (332, 333) and NAMES (353, 366). The bot reads
 *  the channel; a puppet's NAMES of a channel of N is N nicks, for every puppet that joins. */
const CHANNEL_NUMERICS = new Set([332, 333, 353, 366]);

/** What droppable() found: channel traffic (someone else's JOIN, PART, QUIT or NICK; the topic
 *  or NAMES of a channel joined). */
export const DROP_CHANNEL = 1;
/** ... or a server numeric from SERVER_NUMERICS. */
export const DROP_NUMERIC = 2;

/**
 * Classifies the line buf[start, end) (end: just after its LF) from its bytes: DROP_CHANNEL for
 * `[@tags ]:nick[!user@host] JOIN|PART|QUIT|NICK ...` where nick is not `own` (given folded,
 * compared through `fold`) and for an untagged numeric in CHANNEL_NUMERICS, DROP_NUMERIC for one
 * in SERVER_NUMERICS, 0 for anything else (which goes the normal way). In a join storm of N puppets this runs N*N/2 times, so it touches few bytes:
 * native searches (memchr) find the spaces, and the nick is compared only when the byte after
 * as many characters as ours ends a nick.
 */
export function droppable(buf: Buffer, start: number, end: number, own: Uint8Array, fold: Uint8Array): number {
  let i = start;
  const tagged = buf[i] === 0x40; // '@'
  if (tagged) { // skip the tags (the answer to our own labelled command never is one of these)
    i = buf.indexOf(0x20, i) + 1;
    if (i === 0 || i >= end) {
      return 0;
    }
  }
  if (buf[i] !== 0x3a) { // ':'
    return 0;
  }
  const sp = buf.indexOf(0x20, i);
  if (sp < 0 || sp + 5 >= end) {
    return 0;
  }
  const c0 = buf[sp + 1] as number;
  const c1 = buf[sp + 2] as number;
  const c2 = buf[sp + 3] as number;
  const c3 = buf[sp + 4] as number;
  if (c3 === 0x20) { // a 3-character command: a numeric?
    if (tagged || c0 < 0x30 || c0 > 0x39 || c1 < 0x30 || c1 > 0x39 || c2 < 0x30 || c2 > 0x39) {
      return 0;
    }
    const code = (c0 - 0x30) * 100 + (c1 - 0x30) * 10 + (c2 - 0x30);
    return CHANNEL_NUMERICS.has(code) ? DROP_CHANNEL : SERVER_NUMERICS.has(code) ? DROP_NUMERIC : 0;
  }
  if (buf[sp + 5] !== 0x20) {
    return 0;
  }
  const word = ((c0 << 24) | (c1 << 16) | (c2 << 8) | c3) >>> 0;
  if (word !== JOIN && word !== PART && word !== QUIT && word !== NICK) {
    return 0;
  }
  // Our own nick? Only if the source's nick ends where ours would ('!' or the space), and
  // every byte folds to ours (a nick holds neither '!' nor a space, so a shorter one never
  // passes the comparison).
  const n = own.length;
  const nickEnd = i + 1 + n;
  if (nickEnd <= sp && (buf[nickEnd] === 0x21 || nickEnd === sp)) {
    let k = 0;
    while (k < n && fold[buf[i + 1 + k] as number] === own[k]) {
      k++;
    }
    if (k === n) {
      return 0; // our own: it goes on
    }
  }
  return DROP_CHANNEL;
}

/** `nick` folded under `mapping`, as bytes. */
function foldedBytes(nick: string, fold: Uint8Array): Uint8Array {
  const out = new Uint8Array(nick.length);
  for (let i = 0; i < nick.length; i++) {
    out[i] = fold[nick.charCodeAt(i) & 0xff] as number;
  }
  return out;
}

export interface TransportOptions {
  host: string;
  port: number;
  tls: boolean;
  rejectUnauthorized: boolean;
  /** PEM client certificate and key (TLS only). */
  clientCertificate?: { certificate: string; privateKey: string } | null;
  /** The local address to connect from; null or absent: the system's choice. */
  localAddress?: string | null;
}

/**
 * One TCP or TLS connection to an IRC server, read as lines. Events: 'open' (connected, TLS
 * handshake done), 'line' (one line, CR LF kept), 'close' (once, with the socket's error if it
 * had one) and 'debug'.
 */
export class LatinLineTransport extends EventEmitter<{ open: []; line: [string]; close: [Error | null]; debug: [string] }> {
  /** The start of a line whose end has not arrived yet. */
  private rest: Buffer = EMPTY;
  /** Set by a puppet's connection: what may be dropped from the bytes alone. */
  filter: RawFilter | null = null;
  /** The filter's nick and case mapping last read, and the nick folded to bytes. */
  private ownNick = '';
  private ownMapping: CaseMapping | null = null;
  private ownFolded: Uint8Array = new Uint8Array(0);
  private fold: Uint8Array = foldTable('rfc1459');
  /** Lines written in this tick, written together at its end. */
  private pending = '';
  socket: net.Socket | null = null;
  private open = false;
  private error: Error | null = null;
  /** Date.now() when bytes last came in (a dead link is found by its silence). */
  lastReadAt = 0;

  /** Connects, reading through READ_BUFFER. Call once. */
  connect(o: TransportOptions): void {
    const onread = {
      buffer: READ_BUFFER,
      callback: (n: number, buf: Buffer): boolean => {
        this.onSocketData(buf.subarray(0, n));
        return true;
      },
    };
    const localAddress = o.localAddress ?? undefined;
    const family = localAddress ? net.isIP(localAddress) || undefined : undefined;
    const cert = o.clientCertificate ?? null;
    const socket = o.tls
      ? tls.connect({
        servername: net.isIP(o.host) ? undefined : o.host, // SNI only for a name
        host: o.host, port: o.port, rejectUnauthorized: o.rejectUnauthorized,
        key: cert?.privateKey, cert: cert?.certificate, localAddress, family, onread,
      } as tls.ConnectionOptions)
      : net.connect({ host: o.host, port: o.port, localAddress, family, onread } as net.NetConnectOpts);
    this.socket = socket;
    this.lastReadAt = Date.now();
    socket.once(o.tls ? 'secureConnect' : 'connect', () => {
      this.open = true;
      this.emit('open');
    });
    socket.on('error', (err) => {
      this.error ??= err;
    });
    socket.once('close', () => {
      this.open = false;
      this.emit('close', this.error);
    });
  }

  isConnected(): boolean {
    return this.open && this.socket !== null && !this.socket.destroyed;
  }

  /**
   * Writes one line (Latin-1, without its CR LF). Lines written in one tick leave in one write
   * at its end. A connection sends in bursts (CAP LS, NICK and USER; MODE and JOIN; a split
   * message), and each write to the server is a system call, in which the kernel also delivers
   * the bytes to a server on the same machine; one string also makes one write request instead
   * of one per line.
   */
  writeLine(line: string): void {
    if (!this.isConnected()) {
      return;
    }
    if (this.pending === '') {
      process.nextTick(this.flush);
    }
    this.pending += line + '\r\n';
  }

  private readonly flush = (): void => {
    const data = this.pending;
    this.pending = '';
    if (data !== '' && this.isConnected()) {
      this.socket?.write(data, 'latin1');
    }
  };

  /** Closes after what was written (FIN); the socket is destroyed if it is not closed in `graceMs`. */
  end(graceMs = 2000): void {
    const socket = this.socket;
    if (socket === null || socket.destroyed) {
      return;
    }
    this.flush();
    socket.end();
    setTimeout(() => socket.destroy(), graceMs).unref();
  }

  /** Closes at once. */
  destroy(): void {
    this.socket?.destroy();
  }

  onSocketData(data: Buffer): void {
    this.lastReadAt = Date.now();
    const buf = this.rest.length === 0 ? data : Buffer.concat([this.rest, data]);
    const len = buf.length;
    const f = this.filter;
    let dropAll = f !== null && f.dropAll();
    if (f !== null) {
      this.readFilter(f);
    }
    let dropped = 0;
    let start = 0;
    while (start < len) {
      const nl = buf.indexOf(0x0a, start);
      if (nl < 0) {
        break;
      }
      const kind = f === null ? 0 : dropAll ? -1 : droppable(buf, start, nl + 1, this.ownFolded, this.fold);
      const line = start;
      start = nl + 1;
      if (kind !== 0) {
        dropped += kind === DROP_CHANNEL ? 1 : 0;
        continue;
      }
      // The line keeps its CR LF; the parser strips it.
      this.emit('line', buf.toString('latin1', line, nl + 1));
      if (f !== null) { // handling that line may have changed our nick or state
        dropAll = f.dropAll();
        this.readFilter(f);
      }
    }
    if (dropped > 0 && f !== null) {
      f.dropped(dropped);
    }
    // A copy, so that a small remainder does not keep a large chunk alive.
    this.rest = start >= buf.length ? EMPTY : Buffer.from(buf.subarray(start));
    if (this.rest.length > MAX_LINE_BYTES) {
      this.emit('debug', `dropped ${this.rest.length} bytes without a line end`);
      this.rest = EMPTY; // the rest of that line, when its newline comes, is dropped as junk by the parser
    }
  }

  private readFilter(f: RawFilter): void {
    const nick = f.nick();
    const mapping = f.caseMapping();
    if (nick !== this.ownNick || mapping !== this.ownMapping) {
      this.ownNick = nick;
      this.ownMapping = mapping;
      this.fold = foldTable(mapping);
      this.ownFolded = foldedBytes(nick, this.fold);
    }
  }
}
