/**
 * A fast fake homeserver for the benchmark, over node:http on 127.0.0.1.
 *
 * Client-server side: answers what the bridge calls (versions, whoami, register, profile,
 * createRoom, join, invite/leave/kick, send, state, joined_members, messages, directory, media upload)
 * with plausible JSON, keeps just enough state (users, rooms, members, aliases) for the answers
 * to be consistent, and records every sent room event with the time it arrived.
 *
 * Homeserver side of the appservice API: pushTransaction() PUTs transactions to the bridge one at
 * a time and in order, as Synapse does; queryAlias() asks the bridge about an alias.
 *
 * Times are milliseconds from process.hrtime (monotonic, sub-millisecond): see nowMs().
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpSend } from '../src/matrix/http';

/** Monotonic milliseconds (with fractions) from process.hrtime; comparable within this process. */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export interface SentEvent {
  roomId: string;
  type: string;
  /** The `user_id` query parameter: who the appservice sent as. */
  sender: string;
  content: Record<string, unknown>;
  /** The `ts` query parameter (IRC server-time), when given. */
  ts: number | null;
  /** nowMs() when the request was read. */
  receivedMs: number;
}

export interface FakeHomeserverOptions {
  asToken: string;
  hsToken: string;
  domain: string;
  /** Where the bridge's appservice API listens (http://127.0.0.1:PORT). */
  appserviceUrl: string;
  /** Called for every recorded room event (after it is stored in `sent`). */
  onSend?: (e: SentEvent) => void;
  /** Milliseconds every client-server answer is held back, to stand in for a real homeserver's
   *  response time (default 0: answer at once). */
  delayMs?: number;
}

interface Room {
  id: string;
  members: Map<string, string | null>;
  state: Map<string, Record<string, unknown>>;
  /** Room history for /messages, oldest first. */
  history: Array<Record<string, unknown>>;
}

/** A room that exists before the bridge starts (the start-up scenario's stored rooms). */
export interface SeededRoom {
  roomId: string;
  alias?: string;
  /** Joined members with their display names (null: none). */
  members: Array<[string, string | null]>;
  /** State events by type and state key. */
  state?: Array<{ type: string; stateKey: string; content: Record<string, unknown> }>;
  /** Timeline events, oldest first; /messages pages through them backwards. */
  history?: Array<Record<string, unknown>>;
}

class HttpError extends Error {
  constructor(readonly status: number, readonly errcode: string, message: string) {
    super(message);
  }
}

const MAX_SENT_KEPT = 200_000;

export class FakeHomeserver {
  readonly sent: SentEvent[] = [];
  /** Requests per route ("PUT send", "POST register", ...), for the report. */
  readonly requests = new Map<string, number>();
  /** Requests the fake did not recognise (method and path), for the report. */
  readonly unknown: string[] = [];
  /** TCP connections accepted, and the most open at once (the bridge's HTTP client opens one per
   *  request in flight). */
  connections = 0;
  maxOpenConnections = 0;
  private openConnections = 0;
  private server: Server | null = null;
  private port = 0;
  private readonly users = new Set<string>();
  private readonly rooms = new Map<string, Room>();
  private readonly aliases = new Map<string, string>();
  private roomCounter = 0;
  private eventCounter = 0;
  private mediaCounter = 0;
  private txnCounter = 0;
  private txnChain: Promise<unknown> = Promise.resolve();
  private readonly send = createHttpSend();

  constructor(private readonly opts: FakeHomeserverOptions) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(port = 0): Promise<number> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) {
          const e = err instanceof HttpError ? err : new HttpError(500, 'M_UNKNOWN', String(err));
          send(res, e.status, { errcode: e.errcode, error: e.message });
        }
      });
    });
    server.keepAliveTimeout = 65_000;
    server.on('connection', (socket) => {
      this.connections++;
      this.openConnections++;
      this.maxOpenConnections = Math.max(this.maxOpenConnections, this.openConnections);
      socket.once('close', () => this.openConnections--);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    return this.port;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) {
      return;
    }
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Sets the request counters back to zero (the record of sent events is kept). */
  resetCounters(): void {
    this.requests.clear();
    this.unknown.length = 0;
  }

  requestCounts(): Record<string, number> {
    return Object.fromEntries([...this.requests.entries()].sort((a, b) => b[1] - a[1]));
  }

  // ---- the homeserver -> appservice direction ----

  /**
   * PUTs one transaction to the bridge. Transactions go one at a time and in order (each waits
   * for the previous answer), like Synapse. Resolves with the HTTP status; a non-2xx is an error.
   */
  pushTransaction(events: unknown[]): Promise<{ txnId: string; status: number; ms: number }> {
    const txnId = `bench.${process.pid}.${++this.txnCounter}`;
    const run = async (): Promise<{ txnId: string; status: number; ms: number }> => {
      const started = nowMs();
      // The bridge's own lean HTTP sender, not fetch: a transaction per message, and fetch's
      // CPU and garbage in this process would show up in the latencies it measures.
      const res = await this.send(new URL(`${this.opts.appserviceUrl}/_matrix/app/v1/transactions/${encodeURIComponent(txnId)}`), {
        method: 'PUT',
        headers: { authorization: `Bearer ${this.opts.hsToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ events }),
      }, 30_000);
      if (res.status < 200 || res.status > 299) {
        throw new Error(`transaction ${txnId} answered ${res.status}: ${res.text.slice(0, 200)}`);
      }
      return { txnId, status: res.status, ms: nowMs() - started };
    };
    const next = this.txnChain.then(run, run);
    this.txnChain = next.catch(() => undefined);
    return next;
  }

  /** GET /_matrix/app/v1/rooms/{alias}: true when the bridge answers 200 (it created the room). */
  async queryAlias(alias: string): Promise<boolean> {
    const res = await fetch(`${this.opts.appserviceUrl}/_matrix/app/v1/rooms/${encodeURIComponent(alias)}`, {
      headers: { authorization: `Bearer ${this.opts.hsToken}` },
      signal: AbortSignal.timeout(30_000),
    });
    await res.arrayBuffer();
    return res.status === 200;
  }

  /** The room an alias points to, once the bridge created it. */
  roomOfAlias(alias: string): string | undefined {
    return this.aliases.get(alias);
  }

  /** Adds a room the homeserver already has (before the bridge starts). */
  seedRoom(seed: SeededRoom): void {
    const room: Room = { id: seed.roomId, members: new Map(seed.members), state: new Map(), history: seed.history ?? [] };
    for (const s of seed.state ?? []) {
      room.state.set(`${s.type}|${s.stateKey}`, s.content);
    }
    this.rooms.set(room.id, room);
    if (seed.alias !== undefined) {
      this.aliases.set(seed.alias, room.id);
    }
  }

  /** Matrix users the fake thinks are joined to a room. */
  membersOf(roomId: string): string[] {
    return [...(this.rooms.get(roomId)?.members.keys() ?? [])];
  }

  newEventId(): string {
    return `$bench${++this.eventCounter}:${this.opts.domain}`;
  }

  // ---- the client-server API ----

  private count(route: string): void {
    this.requests.set(route, (this.requests.get(route) ?? 0) + 1);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const receivedMs = nowMs();
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const body = method === 'GET' || method === 'HEAD' ? null : await readJson(req);
    if (this.opts.delayMs) {
      await new Promise((r) => setTimeout(r, this.opts.delayMs));
    }

    if (method === 'GET' && path === '/_matrix/client/versions') {
      this.count('GET versions');
      send(res, 200, { versions: ['v1.1', 'v1.2', 'v1.3', 'v1.4', 'v1.5', 'v1.6', 'v1.7', 'v1.8', 'v1.9', 'v1.10', 'v1.11'] });
      return;
    }
    this.checkToken(req, url);
    const asUser = url.searchParams.get('user_id') ?? this.botUserId();
    let m: RegExpExecArray | null;
    const seg = (i: number): string => decodeURIComponent((m as RegExpExecArray)[i] as string);

    if (method === 'GET' && path === '/_matrix/client/v3/account/whoami') {
      this.count('GET whoami');
      send(res, 200, { user_id: asUser });
    } else if (method === 'POST' && path === '/_matrix/client/v3/register') {
      this.count('POST register');
      const localpart = String((body as { username?: unknown } | null)?.username ?? '');
      if (!/^[a-z0-9._=/-]+$/.test(localpart)) {
        throw new HttpError(400, 'M_INVALID_USERNAME', 'bad localpart');
      }
      const userId = `@${localpart}:${this.opts.domain}`;
      if (this.users.has(userId)) {
        throw new HttpError(400, 'M_USER_IN_USE', 'User ID already taken.');
      }
      this.users.add(userId);
      send(res, 200, { user_id: userId, home_server: this.opts.domain });
    } else if ((m = /^\/_matrix\/client\/v3\/profile\/([^/]+)\/displayname$/.exec(path))) {
      this.count(`${method} displayname`);
      if (method === 'PUT') {
        send(res, 200, {});
      } else {
        send(res, 200, { displayname: seg(1) });
      }
    } else if (method === 'POST' && path === '/_matrix/client/v3/createRoom') {
      this.count('POST createRoom');
      const b = (body ?? {}) as { room_alias_name?: unknown; initial_state?: unknown };
      const room = this.newRoom();
      room.members.set(asUser, null);
      if (typeof b.room_alias_name === 'string') {
        const alias = `#${b.room_alias_name}:${this.opts.domain}`;
        if (this.aliases.has(alias)) {
          this.rooms.delete(room.id);
          throw new HttpError(400, 'M_ROOM_IN_USE', 'Room alias already taken');
        }
        this.aliases.set(alias, room.id);
      }
      if (Array.isArray(b.initial_state)) {
        for (const ev of b.initial_state as Array<{ type?: string; state_key?: string; content?: Record<string, unknown> }>) {
          room.state.set(`${ev.type ?? ''}|${ev.state_key ?? ''}`, ev.content ?? {});
        }
      }
      send(res, 200, { room_id: room.id });
    } else if (method === 'POST' && (m = /^\/_matrix\/client\/v3\/join\/([^/]+)$/.exec(path))) {
      this.count('POST join');
      const target = seg(1);
      const roomId = target.startsWith('#') ? this.aliases.get(target) : target;
      const room = roomId ? this.rooms.get(roomId) : undefined;
      if (!room) {
        throw new HttpError(404, 'M_NOT_FOUND', 'No such room');
      }
      room.members.set(asUser, null);
      send(res, 200, { room_id: room.id });
    } else if (method === 'POST' && (m = /^\/_matrix\/client\/v3\/rooms\/([^/]+)\/(invite|leave|kick)$/.exec(path))) {
      this.count(`POST ${m[2] as string}`);
      const room = this.rooms.get(seg(1));
      if (!room) {
        throw new HttpError(404, 'M_NOT_FOUND', 'No such room');
      }
      if (m[2] === 'leave') {
        room.members.delete(asUser);
      } else if (m[2] === 'kick') {
        room.members.delete(String((body as { user_id?: unknown } | null)?.user_id ?? ''));
      }
      send(res, 200, {});
    } else if (method === 'PUT' && (m = /^\/_matrix\/client\/v3\/rooms\/([^/]+)\/send\/([^/]+)\/([^/]+)$/.exec(path))) {
      this.count('PUT send');
      const tsParam = url.searchParams.get('ts');
      const ev: SentEvent = {
        roomId: seg(1),
        type: seg(2),
        sender: asUser,
        content: (body ?? {}) as Record<string, unknown>,
        ts: tsParam === null ? null : Number(tsParam),
        receivedMs,
      };
      if (this.sent.length >= MAX_SENT_KEPT) {
        this.sent.splice(0, this.sent.length - MAX_SENT_KEPT + 1);
      }
      this.sent.push(ev);
      this.opts.onSend?.(ev);
      send(res, 200, { event_id: this.newEventId() });
    } else if ((m = /^\/_matrix\/client\/v3\/rooms\/([^/]+)\/state\/([^/]+)(?:\/([^/]*))?$/.exec(path))) {
      this.count(`${method} state`);
      const room = this.rooms.get(seg(1));
      const key = `${seg(2)}|${m[3] === undefined ? '' : seg(3)}`;
      if (method === 'PUT') {
        room?.state.set(key, (body ?? {}) as Record<string, unknown>);
        send(res, 200, { event_id: this.newEventId() });
      } else {
        const content = room?.state.get(key);
        if (!content) {
          throw new HttpError(404, 'M_NOT_FOUND', 'Event not found.');
        }
        send(res, 200, content);
      }
    } else if (method === 'GET' && (m = /^\/_matrix\/client\/v3\/rooms\/([^/]+)\/joined_members$/.exec(path))) {
      this.count('GET joined_members');
      const room = this.rooms.get(seg(1));
      if (!room) {
        throw new HttpError(403, 'M_FORBIDDEN', 'You are not in this room');
      }
      const joined: Record<string, { display_name?: string }> = {};
      for (const [u, d] of room.members) {
        joined[u] = d === null ? {} : { display_name: d };
      }
      send(res, 200, { joined });
    } else if (method === 'GET' && (m = /^\/_matrix\/client\/v3\/rooms\/([^/]+)\/messages$/.exec(path))) {
      // Room history, read by the bridge's catch-up: what was seeded (every pushed event was handled).
      this.count('GET messages');
      const room = this.rooms.get(seg(1));
      if (!room) {
        throw new HttpError(403, 'M_FORBIDDEN', 'You are not in this room');
      }
      // Backwards from the newest event (or from the `from` token, an offset from the end).
      const from = Number(url.searchParams.get('from') ?? '0') || 0;
      const limit = Math.min(1000, Number(url.searchParams.get('limit') ?? '10') || 10);
      const newestFirst = room.history.slice(0, Math.max(0, room.history.length - from)).reverse().slice(0, limit);
      const end = from + newestFirst.length;
      send(res, 200, { chunk: newestFirst, start: String(from), ...(newestFirst.length > 0 ? { end: String(end) } : {}) });
    } else if ((m = /^\/_matrix\/client\/v3\/directory\/room\/([^/]+)$/.exec(path))) {
      this.count(`${method} directory`);
      const alias = seg(1);
      if (method === 'PUT') {
        this.aliases.set(alias, String((body as { room_id?: unknown } | null)?.room_id ?? ''));
        send(res, 200, {});
      } else if (method === 'DELETE') {
        this.aliases.delete(alias);
        send(res, 200, {});
      } else {
        const roomId = this.aliases.get(alias);
        if (!roomId) {
          throw new HttpError(404, 'M_NOT_FOUND', 'Room alias not found');
        }
        send(res, 200, { room_id: roomId, servers: [this.opts.domain] });
      }
    } else if (method === 'POST' && path === '/_matrix/media/v3/upload') {
      this.count('POST upload');
      send(res, 200, { content_uri: `mxc://${this.opts.domain}/bench${++this.mediaCounter}` });
    } else {
      this.count('unknown');
      if (this.unknown.length < 100) {
        this.unknown.push(`${method} ${path}`);
      }
      throw new HttpError(404, 'M_UNRECOGNIZED', 'Unrecognized request');
    }
  }

  private botUserId(): string {
    return `@ircbridge:${this.opts.domain}`;
  }

  private newRoom(): Room {
    const room: Room = { id: `!bench${++this.roomCounter}:${this.opts.domain}`, members: new Map(), state: new Map(), history: [] };
    this.rooms.set(room.id, room);
    return room;
  }

  private checkToken(req: IncomingMessage, url: URL): void {
    const header = req.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice(7) : url.searchParams.get('access_token');
    if (!token) {
      throw new HttpError(401, 'M_MISSING_TOKEN', 'Missing access token');
    }
    if (token !== this.opts.asToken) {
      throw new HttpError(401, 'M_UNKNOWN_TOKEN', 'Unknown access token');
    }
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 64 * 1024 * 1024) {
        reject(new HttpError(413, 'M_TOO_LARGE', 'too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const type = req.headers['content-type'] ?? '';
      if (text === '' || !type.includes('json')) {
        resolve(null);
        return;
      }
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new HttpError(400, 'M_NOT_JSON', 'Content not JSON.'));
      }
    });
    req.on('error', reject);
  });
}
