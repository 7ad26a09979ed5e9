/**
 * Client-server API calls as the appservice: as the bot, or as any user in the exclusive
 * namespace (`?user_id=`). Plain fetch (undici keeps connections alive); no SDK on the hot path.
 * Retries rate limits (honouring retry_after_ms) and transient failures with bounded backoff.
 */
import { getLogger } from '../log';
import { createHttpSend, type HttpAnswer, type HttpRequest, type HttpSend } from './http';

const log = getLogger('matrix.client');

export class MatrixApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly errcode: string,
    readonly detail: string,
    readonly retryAfterMs: number | null = null,
  ) {
    super(`${method} ${path}: ${status} ${errcode} ${detail}`);
    this.name = 'MatrixApiError';
  }
}

export interface MatrixClientOptions {
  homeserverUrl: string;
  asToken: string;
  /** Attempts for a retryable failure (network error, 429, 5xx). */
  maxAttempts?: number;
  /** First backoff step; doubles per attempt. */
  backoffMs?: number;
  /** How a request is sent (default: node:http(s) over kept-alive connections). */
  send?: HttpSend;
  /** Told of every request that fails for good (after its retries), for metrics. */
  onFailure?: (err: MatrixApiError) => void;
  /** Requests in flight at once, at most (default 64); the rest wait their turn. Each one in
   *  flight holds a connection to the homeserver (the agent sets no limit per host): without
   *  a bound, a start with 1,000 bridged rooms opened about 1,000 at the same moment. */
  maxInFlight?: number;
  /** How long one attempt may take, answer included, before it counts as a failed connection
   *  and is retried (default 60 s). Without it, a homeserver that accepts a request and never
   *  answers would hold a place in flight (and the room's queue behind it) for minutes. */
  timeoutMs?: number;
}

export interface RequestOptions {
  asUser?: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  rawBody?: { data: Buffer | string; contentType: string };
  /** Do not retry (the caller handles failure itself). */
  noRetry?: boolean;
  /** Goes before requests waiting without it when too many are in flight (few at a time:
   *  reads that Matrix events wait for). */
  urgent?: boolean;
}

export type RoomEventContent = Record<string, unknown>;

let txnCounter = 0;
/** A transaction ID unique within this process and across restarts. */
export function newTxnId(): string {
  txnCounter = (txnCounter + 1) % 1e9;
  return `mib.${Date.now().toString(36)}.${process.pid.toString(36)}.${txnCounter}`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class MatrixClient {
  private readonly base: string;
  private readonly send: HttpSend;
  private readonly maxAttempts: number;
  private readonly backoffMs: number;
  private readonly maxInFlight: number;
  private readonly timeoutMs: number;
  private inFlight = 0;
  /** Requests waiting for one in flight to end, in arrival order (urgent ones apart). */
  private readonly waiting: Array<() => void> = [];
  private readonly waitingUrgent: Array<() => void> = [];

  constructor(private readonly opts: MatrixClientOptions) {
    this.base = opts.homeserverUrl.replace(/\/+$/, '');
    this.send = opts.send ?? createHttpSend();
    this.maxAttempts = opts.maxAttempts ?? 5;
    this.backoffMs = opts.backoffMs ?? 250;
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 64);
    this.timeoutMs = opts.timeoutMs ?? 60_000;
  }

  /** One HTTP exchange (request and whole answer) within the limit of requests in flight. */
  private async exchange(url: URL, req: HttpRequest, urgent: boolean): Promise<HttpAnswer> {
    if (this.inFlight < this.maxInFlight) {
      this.inFlight++;
    } else {
      // handed the place of one that ended
      await new Promise<void>((resolve) => (urgent ? this.waitingUrgent : this.waiting).push(resolve));
    }
    try {
      return await this.send(url, req, this.timeoutMs);
    } finally {
      const next = this.waitingUrgent.shift() ?? this.waiting.shift();
      if (next) {
        next();
      } else {
        this.inFlight--;
      }
    }
  }

  async request<T = Record<string, unknown>>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const url = new URL(this.base + path);
    for (const [k, v] of Object.entries(o.query ?? {})) {
      if (v !== undefined) {
        url.searchParams.set(k, String(v));
      }
    }
    if (o.asUser) {
      url.searchParams.set('user_id', o.asUser);
    }
    const headers: Record<string, string> = { authorization: `Bearer ${this.opts.asToken}` };
    let body: string | Buffer | undefined;
    if (o.rawBody) {
      headers['content-type'] = o.rawBody.contentType;
      body = o.rawBody.data;
    } else if (o.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(o.body);
    }
    const attempts = o.noRetry ? 1 : this.maxAttempts;
    for (let attempt = 1; ; attempt++) {
      let res: HttpAnswer;
      try {
        res = await this.exchange(url, { method, headers, body }, o.urgent === true);
      } catch (err) {
        if (attempt >= attempts) {
          throw this.failed(new MatrixApiError(method, path, 0, 'M_CONNECTION', (err as Error).message));
        }
        await sleep(this.backoffMs * 2 ** (attempt - 1));
        continue;
      }
      const text = res.text;
      if (res.status >= 200 && res.status < 300) {
        return (text ? JSON.parse(text) : {}) as T;
      }
      let parsed: { errcode?: string; error?: string; retry_after_ms?: number } = {};
      try {
        parsed = JSON.parse(text) as typeof parsed;
      } catch {
        // not JSON: keep the status
      }
      const retryAfter = res.status === 429 ? (parsed.retry_after_ms ?? this.backoffMs) : null;
      const err = new MatrixApiError(method, path, res.status, parsed.errcode ?? `HTTP_${res.status}`,
        parsed.error ?? text.slice(0, 200), retryAfter);
      const retryable = res.status === 429 || res.status >= 500;
      if (!retryable || attempt >= attempts) {
        throw this.failed(err);
      }
      const wait = retryAfter ?? this.backoffMs * 2 ** (attempt - 1);
      log.debug('retrying homeserver request', { method, path, status: res.status, wait_ms: wait });
      await sleep(wait);
    }
  }

  private failed(err: MatrixApiError): MatrixApiError {
    this.opts.onFailure?.(err);
    return err;
  }

  whoami(): Promise<{ user_id: string }> {
    return this.request('GET', '/_matrix/client/v3/account/whoami', { noRetry: true });
  }

  versions(): Promise<{ versions: string[] }> {
    return this.request('GET', '/_matrix/client/versions', { noRetry: true });
  }

  /** Registers a user in the appservice namespace; an existing user is not an error. */
  async register(localpart: string): Promise<void> {
    try {
      await this.request('POST', '/_matrix/client/v3/register', {
        body: { type: 'm.login.application_service', username: localpart, inhibit_login: true },
        query: { kind: 'user' },
      });
    } catch (err) {
      if (!(err instanceof MatrixApiError && err.errcode === 'M_USER_IN_USE')) {
        throw err;
      }
    }
  }

  setDisplayName(userId: string, displayname: string): Promise<unknown> {
    return this.request('PUT', `/_matrix/client/v3/profile/${enc(userId)}/displayname`,
      { asUser: userId, body: { displayname } });
  }

  async getDisplayName(userId: string): Promise<string | null> {
    try {
      const r = await this.request<{ displayname?: string }>('GET',
        `/_matrix/client/v3/profile/${enc(userId)}/displayname`, { noRetry: true });
      return typeof r.displayname === 'string' ? r.displayname : null;
    } catch {
      return null;
    }
  }

  createRoom(body: Record<string, unknown>, asUser?: string): Promise<{ room_id: string }> {
    return this.request('POST', '/_matrix/client/v3/createRoom', { body, asUser });
  }

  async joinRoom(roomIdOrAlias: string, asUser: string): Promise<string> {
    const r = await this.request<{ room_id: string }>('POST', `/_matrix/client/v3/join/${enc(roomIdOrAlias)}`,
      { asUser, body: {} });
    return r.room_id;
  }

  invite(roomId: string, userId: string, asUser?: string): Promise<unknown> {
    return this.request('POST', `/_matrix/client/v3/rooms/${enc(roomId)}/invite`,
      { asUser, body: { user_id: userId } });
  }

  leave(roomId: string, asUser: string, reason?: string): Promise<unknown> {
    return this.request('POST', `/_matrix/client/v3/rooms/${enc(roomId)}/leave`,
      { asUser, body: reason ? { reason } : {} });
  }

  kick(roomId: string, userId: string, reason: string, asUser?: string): Promise<unknown> {
    return this.request('POST', `/_matrix/client/v3/rooms/${enc(roomId)}/kick`,
      { asUser, body: { user_id: userId, reason } });
  }

  ban(roomId: string, userId: string, reason: string, asUser?: string): Promise<unknown> {
    return this.request('POST', `/_matrix/client/v3/rooms/${enc(roomId)}/ban`,
      { asUser, body: { user_id: userId, reason } });
  }

  unban(roomId: string, userId: string, reason: string, asUser?: string): Promise<unknown> {
    return this.request('POST', `/_matrix/client/v3/rooms/${enc(roomId)}/unban`,
      { asUser, body: { user_id: userId, reason } });
  }

  /** `txnId`: the same one for every attempt at one event, so that the homeserver takes a
   *  repeat (after a lost answer or a restart) for the event it already has; a new one when absent. */
  async sendEvent(roomId: string, type: string, content: RoomEventContent, asUser?: string,
    ts?: number | null, txnId?: string): Promise<string> {
    const r = await this.request<{ event_id: string }>('PUT',
      `/_matrix/client/v3/rooms/${enc(roomId)}/send/${enc(type)}/${enc(txnId ?? newTxnId())}`,
      { asUser, body: content, query: { ts: ts ?? undefined } });
    return r.event_id;
  }

  async sendState(roomId: string, type: string, stateKey: string, content: RoomEventContent,
    asUser?: string): Promise<string> {
    const r = await this.request<{ event_id: string }>('PUT',
      `/_matrix/client/v3/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`, { asUser, body: content });
    return r.event_id;
  }

  async getState<T = Record<string, unknown>>(roomId: string, type: string, stateKey = ''): Promise<T | null> {
    try {
      return await this.request<T>('GET', `/_matrix/client/v3/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`,
        { noRetry: true });
    } catch (err) {
      if (err instanceof MatrixApiError && err.status === 404) {
        return null;
      }
      throw err;
    }
  }

  /** A whole state event (sender included), or null when the room has none. */
  async getStateEvent(roomId: string, type: string, stateKey = ''): Promise<Record<string, unknown> | null> {
    try {
      return await this.request('GET', `/_matrix/client/v3/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`,
        { noRetry: true, query: { format: 'event' } });
    } catch (err) {
      if (err instanceof MatrixApiError && err.status === 404) {
        return null;
      }
      throw err;
    }
  }

  /** Whether the room is published in the server's room directory. */
  async getDirectoryVisibility(roomId: string): Promise<'public' | 'private'> {
    const r = await this.request<{ visibility?: unknown }>('GET', `/_matrix/client/v3/directory/list/room/${enc(roomId)}`);
    return r.visibility === 'public' ? 'public' : 'private';
  }

  setDirectoryVisibility(roomId: string, visibility: 'public' | 'private', asUser?: string): Promise<unknown> {
    return this.request('PUT', `/_matrix/client/v3/directory/list/room/${enc(roomId)}`, { asUser, body: { visibility } });
  }

  async joinedMembers(roomId: string): Promise<Record<string, { display_name?: string }>> {
    const r = await this.request<{ joined: Record<string, { display_name?: string }> }>('GET',
      `/_matrix/client/v3/rooms/${enc(roomId)}/joined_members`);
    return r.joined ?? {};
  }

  /** One page of a room's timeline from `from` (or the newest event), as `asUser`. Urgent: the
   *  catch-up reads with it, and Matrix events wait for those reads. */
  async roomMessages(roomId: string, o: { dir: 'b' | 'f'; from?: string; limit: number }, asUser?: string):
    Promise<{ chunk: unknown[]; end?: string }> {
    const r = await this.request<{ chunk?: unknown; end?: unknown }>('GET', `/_matrix/client/v3/rooms/${enc(roomId)}/messages`,
      { asUser, query: { dir: o.dir, from: o.from, limit: o.limit }, urgent: true });
    return { chunk: Array.isArray(r.chunk) ? r.chunk : [], end: typeof r.end === 'string' ? r.end : undefined };
  }

  /** Redacts an event (as `asUser`); the reason is shown to those who can see the redaction. */
  redact(roomId: string, eventId: string, reason: string, asUser?: string): Promise<unknown> {
    return this.request('PUT', `/_matrix/client/v3/rooms/${enc(roomId)}/redact/${enc(eventId)}/${newTxnId()}`,
      { asUser, body: { reason } });
  }

  async resolveAlias(alias: string): Promise<string | null> {
    try {
      const r = await this.request<{ room_id: string }>('GET',
        `/_matrix/client/v3/directory/room/${enc(alias)}`, { noRetry: true });
      return r.room_id;
    } catch (err) {
      if (err instanceof MatrixApiError && err.status === 404) {
        return null;
      }
      throw err;
    }
  }

  /** Uploads to the media repository; returns the mxc:// URI. */
  async upload(data: Buffer | string, contentType: string, filename: string, asUser?: string): Promise<string> {
    const r = await this.request<{ content_uri: string }>('POST', '/_matrix/media/v3/upload',
      { asUser, query: { filename }, rawBody: { data, contentType } });
    return r.content_uri;
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}
