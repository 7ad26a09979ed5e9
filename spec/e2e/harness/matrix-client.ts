import { pollUntil } from './proc';

/** A client-server API event as /sync returns it in a room timeline. */
export interface MatrixEvent {
  event_id: string;
  type: string;
  sender: string;
  origin_server_ts: number;
  state_key?: string;
  content: Record<string, unknown>;
  unsigned?: Record<string, unknown>;
  /** Date.now() when this client received the event (added by the harness). */
  receivedAt: number;
}

export class MatrixRequestError extends Error {
  constructor(
    readonly status: number,
    readonly errcode: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

interface SyncRoom {
  timeline?: { events?: Omit<MatrixEvent, 'receivedAt'>[]; limited?: boolean };
}
interface SyncResponse {
  next_batch: string;
  rooms?: { join?: Record<string, SyncRoom>; leave?: Record<string, SyncRoom>;
    invite?: Record<string, { invite_state?: { events?: Array<{ type: string; sender: string; state_key?: string }> } }> };
}

const SYNC_FILTER = JSON.stringify({
  room: { timeline: { limit: 500 }, ephemeral: { types: [] }, account_data: { types: [] } },
  presence: { types: [] },
  account_data: { types: [] },
});

/**
 * A Matrix user driven over the client-server API with fetch. /sync is long-polled
 * with a short timeout and a kept since-token, and every timeline event is buffered
 * per room, so an event that arrives between two waits is not lost.
 */
export class MatrixTestClient {
  private since: string | undefined;
  private readonly timelines = new Map<string, MatrixEvent[]>();
  private readonly consumed = new Set<string>();
  /** Rooms this user was invited to, with who invited them, as /sync told. */
  readonly invites = new Map<string, string>();
  private inflight: Promise<void> | undefined;
  private txn = 0;

  constructor(
    readonly baseUrl: string,
    readonly userId: string,
    readonly accessToken: string,
  ) {}

  /** Creates the client and does the first sync, so later waits see only what follows. */
  static async create(baseUrl: string, userId: string, accessToken: string): Promise<MatrixTestClient> {
    const client = new MatrixTestClient(baseUrl, userId, accessToken);
    await client.sync(0);
    return client;
  }

  async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = 30_000,
  ): Promise<T> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.accessToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let json: Record<string, unknown> = {};
    try {
      json = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
    } catch {
      json = { raw: text };
    }
    if (!res.ok) {
      const errcode = typeof json.errcode === 'string' ? json.errcode : undefined;
      throw new MatrixRequestError(res.status, errcode, `${method} ${path} as ${this.userId}: HTTP ${res.status} ${text}`);
    }
    return json as T;
  }

  setDisplayName(name: string): Promise<unknown> {
    return this.request('PUT', `/_matrix/client/v3/profile/${encodeURIComponent(this.userId)}/displayname`, {
      displayname: name,
    });
  }

  /** Joins by alias or room ID (an alias in the bridge's namespace creates the portal). */
  async joinRoom(aliasOrId: string): Promise<string> {
    const res = await this.request<{ room_id: string }>(
      'POST',
      `/_matrix/client/v3/join/${encodeURIComponent(aliasOrId)}`,
      {},
      45_000,
    );
    return res.room_id;
  }

  async resolveAlias(alias: string): Promise<string> {
    const res = await this.request<{ room_id: string }>(
      'GET',
      `/_matrix/client/v3/directory/room/${encodeURIComponent(alias)}`,
    );
    return res.room_id;
  }

  private nextTxn(): string {
    this.txn += 1;
    return `e2e-${Date.now()}-${this.txn}`;
  }

  async sendEvent(roomId: string, type: string, content: Record<string, unknown>): Promise<string> {
    const res = await this.request<{ event_id: string }>(
      'PUT',
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/${encodeURIComponent(type)}/${this.nextTxn()}`,
      content,
    );
    return res.event_id;
  }

  sendText(roomId: string, body: string, extra: Record<string, unknown> = {}): Promise<string> {
    return this.sendEvent(roomId, 'm.room.message', { msgtype: 'm.text', body, ...extra });
  }

  async leave(roomId: string): Promise<void> {
    await this.request('POST', `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/leave`, {});
  }

  /** Joined members: user ID -> display name (or null). */
  async getMembers(roomId: string): Promise<Record<string, string | null>> {
    const res = await this.request<{ joined: Record<string, { display_name?: string | null }> }>(
      'GET',
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/joined_members`,
    );
    const out: Record<string, string | null> = {};
    for (const [userId, info] of Object.entries(res.joined)) out[userId] = info.display_name ?? null;
    return out;
  }

  /** Content of one state event, or undefined when there is none. */
  async getState(roomId: string, type: string, stateKey = ''): Promise<Record<string, unknown> | undefined> {
    try {
      return await this.request(
        'GET',
        `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/${encodeURIComponent(type)}/${encodeURIComponent(stateKey)}`,
      );
    } catch (err) {
      if (err instanceof MatrixRequestError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** Polls joined_members (bounded) until pred holds; returns the last member map. */
  waitForMembers(
    roomId: string,
    pred: (members: Record<string, string | null>) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<Record<string, string | null>> {
    let last: Record<string, string | null> = {};
    return pollUntil(
      what,
      async () => {
        last = await this.getMembers(roomId);
        return pred(last) ? last : undefined;
      },
      { timeoutMs, intervalMs: 250 },
    ).catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}; members were: ${Object.keys(last).join(', ')}`);
    });
  }

  /** One /sync round (shared if one is already running). */
  sync(timeoutMs: number): Promise<void> {
    if (this.inflight === undefined) {
      this.inflight = this.doSync(timeoutMs).finally(() => {
        this.inflight = undefined;
      });
    }
    return this.inflight;
  }

  private async doSync(timeoutMs: number): Promise<void> {
    const params = new URLSearchParams({ timeout: String(timeoutMs), filter: SYNC_FILTER });
    if (this.since !== undefined) params.set('since', this.since);
    const res = await this.request<SyncResponse>('GET', `/_matrix/client/v3/sync?${params.toString()}`, undefined, timeoutMs + 15_000);
    const now = Date.now();
    const sections = [res.rooms?.join ?? {}, res.rooms?.leave ?? {}];
    for (const section of sections) {
      for (const [roomId, room] of Object.entries(section)) {
        const buffer = this.timelines.get(roomId) ?? [];
        this.timelines.set(roomId, buffer);
        for (const ev of room.timeline?.events ?? []) {
          if (!buffer.some((b) => b.event_id === ev.event_id)) buffer.push({ ...ev, receivedAt: now });
        }
      }
    }
    for (const [roomId, room] of Object.entries(res.rooms?.invite ?? {})) {
      const invite = (room.invite_state?.events ?? []).find((ev) => ev.type === 'm.room.member' && ev.state_key === this.userId);
      this.invites.set(roomId, invite?.sender ?? '');
    }
    this.since = res.next_batch;
  }

  /** Resolves with the first room this user is invited to by `inviter` (bounded). */
  async waitForInvite(inviter: string, timeoutMs: number, what: string): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (let round = 0; round < Math.ceil(timeoutMs / 100) + 2; round++) {
      const hit = [...this.invites.entries()].find(([, from]) => from === inviter);
      if (hit) {
        this.invites.delete(hit[0]);
        return hit[0];
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      await this.sync(Math.max(0, Math.min(remaining, 2000)));
    }
    throw new Error(`${this.userId}: timed out after ${timeoutMs} ms waiting for ${what}`);
  }

  /** Every timeline event buffered for the room so far. */
  events(roomId: string): MatrixEvent[] {
    return [...(this.timelines.get(roomId) ?? [])];
  }

  /**
   * Resolves with the first buffered or newly synced event in roomId that matches
   * pred and was not already returned by an earlier waitForEvent.
   */
  async waitForEvent(
    roomId: string,
    pred: (ev: MatrixEvent) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<MatrixEvent> {
    const deadline = Date.now() + timeoutMs;
    const maxRounds = Math.ceil(timeoutMs / 100) + 2;
    for (let round = 0; round < maxRounds; round++) {
      const hit = (this.timelines.get(roomId) ?? []).find((ev) => !this.consumed.has(ev.event_id) && pred(ev));
      if (hit !== undefined) {
        this.consumed.add(hit.event_id);
        return hit;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      await this.sync(Math.max(0, Math.min(remaining, 2000)));
    }
    throw new Error(
      `${this.userId}: timed out after ${timeoutMs} ms waiting for ${what} in ${roomId}\n${this.recent(roomId)}`,
    );
  }

  /** The last events seen in a room, one line each, for failure messages. */
  recent(roomId: string, count = 20): string {
    const shown = (this.timelines.get(roomId) ?? []).slice(-count).map((ev) => {
      const content = JSON.stringify(ev.content);
      return `  ${ev.type} from ${ev.sender}${ev.state_key !== undefined ? ` [${ev.state_key}]` : ''}: ${content.slice(0, 200)}`;
    });
    return `last ${shown.length} events seen by ${this.userId}:\n${shown.join('\n')}`;
  }
}
