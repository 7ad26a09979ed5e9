/**
 * A small ident server (RFC 1413). An IRC server that receives a connection asks the client's
 * host, on port 113, "which user owns your end of this connection?" as `<port-on-your-side>,
 * <port-on-my-side>`. The bridge answers for its own connections with the username each one
 * registered with, and `ERROR : NO-USER` for anything else.
 *
 * Connections register themselves in an IdentRegistry while their socket is open
 * (connection.ts); the server only reads it. One query per line; a line longer than the RFC's
 * limit, or a client that says nothing for a while, is dropped. Nothing a client sends can
 * crash the listener.
 */
import * as net from 'node:net';

/** The RFC bounds the request to "<port> , <port>"; anything longer is not a query. */
const MAX_LINE = 64;
const IDLE_TIMEOUT_MS = 10_000;
/** A query may arrive a moment before the connection registered itself (the server asks as
 *  soon as it accepts the socket, our 'connect' callback runs when the handshake completes). */
const LATE_REGISTRATION_MS = 500;

export interface IdentEntry {
  localPort: number;
  remotePort: number;
  /** The IRC server's address as our socket sees it. */
  remoteAddress: string;
  username: string;
}

/** The bridge's open IRC connections, by their local and remote ports. */
export class IdentRegistry {
  private readonly byPorts = new Map<string, IdentEntry[]>();
  private readonly waiters = new Map<string, Array<() => void>>();

  add(e: IdentEntry): void {
    const key = `${e.localPort},${e.remotePort}`;
    this.byPorts.set(key, [...(this.byPorts.get(key) ?? []), e]);
    this.waiters.get(key)?.splice(0).forEach((w) => w());
    this.waiters.delete(key);
  }

  remove(e: IdentEntry): void {
    const key = `${e.localPort},${e.remotePort}`;
    const left = (this.byPorts.get(key) ?? []).filter((x) => x !== e);
    if (left.length > 0) {
      this.byPorts.set(key, left);
    } else {
      this.byPorts.delete(key);
    }
  }

  get size(): number {
    return [...this.byPorts.values()].reduce((n, l) => n + l.length, 0);
  }

  /** The username of our connection from `localPort` to `remotePort` on `peer` (the querying
   *  host: an ident answer only goes to the host at the other end of the connection). */
  lookup(localPort: number, remotePort: number, peer: string): string | null {
    const list = this.byPorts.get(`${localPort},${remotePort}`) ?? [];
    const hit = list.find((e) => sameAddress(e.remoteAddress, peer));
    return hit?.username ?? null;
  }

  /** Like lookup, but waits up to `waitMs` for the connection to register itself. */
  async lookupSoon(localPort: number, remotePort: number, peer: string, waitMs: number): Promise<string | null> {
    const now = this.lookup(localPort, remotePort, peer);
    if (now !== null || waitMs <= 0) {
      return now;
    }
    const key = `${localPort},${remotePort}`;
    let done = (): void => undefined;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => done(), waitMs);
      done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.set(key, [...(this.waiters.get(key) ?? []), done]);
    });
    const left = (this.waiters.get(key) ?? []).filter((w) => w !== done);
    if (left.length > 0) {
      this.waiters.set(key, left);
    } else {
      this.waiters.delete(key);
    }
    return this.lookup(localPort, remotePort, peer);
  }
}

function sameAddress(a: string, b: string): boolean {
  const norm = (s: string): string => s.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '').toLowerCase();
  return norm(a) === norm(b);
}

/** `"6193, 23"` -> [6193, 23]; null when the line is not a well-formed query. */
export function parseIdentQuery(line: string): [number, number] | null {
  const m = /^\s*(\d{1,5})\s*,\s*(\d{1,5})\s*$/.exec(line);
  if (!m) {
    return null;
  }
  const a = Number(m[1]);
  const b = Number(m[2]);
  return a >= 1 && a <= 65535 && b >= 1 && b <= 65535 ? [a, b] : null;
}

export interface IdentServerOptions {
  bind: string;
  port: number;
  registry: IdentRegistry;
  /** For tests: how long a query waits for a connection that registers late. */
  lateRegistrationMs?: number;
}

export class IdentServer {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly opts: IdentServerOptions) {
    this.server = net.createServer((socket) => this.onSocket(socket));
    this.server.on('error', () => undefined); // listen() reports its own error
  }

  /** Resolves with the port it listens on (useful with port 0). */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(this.opts.port, this.opts.bind, () => {
        this.server.off('error', onError);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) {
      s.destroy();
    }
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private onSocket(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.setEncoding('latin1');
    socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
    let buffer = '';
    let busy = Promise.resolve();
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let eol: number;
      while ((eol = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, eol).replace(/\r$/, '');
        buffer = buffer.slice(eol + 1);
        busy = busy.then(() => this.answer(socket, line));
      }
      if (buffer.length > MAX_LINE) {
        socket.destroy();
      }
    });
  }

  private async answer(socket: net.Socket, line: string): Promise<void> {
    if (socket.destroyed) {
      return;
    }
    const q = parseIdentQuery(line);
    if (line.length > MAX_LINE || q === null) {
      socket.end('0, 0 : ERROR : INVALID-PORT\r\n');
      return;
    }
    const [ours, theirs] = q;
    const user = await this.opts.registry.lookupSoon(ours, theirs, socket.remoteAddress ?? '',
      this.opts.lateRegistrationMs ?? LATE_REGISTRATION_MS);
    if (!socket.destroyed) {
      socket.write(user === null ? `${ours}, ${theirs} : ERROR : NO-USER\r\n` : `${ours}, ${theirs} : USERID : UNIX : ${user}\r\n`);
    }
  }
}
