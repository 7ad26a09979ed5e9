/**
 * The bridge core between a recording fake homeserver and a scripted fake IRC server, for
 * specs that drive it with Matrix events and IRC lines. One fixture per test.
 */
import { Bridge, type BridgeOptions } from '../../src/bridge/bridge';
import type { BridgeContext } from '../../src/bridge/context';
import { parseConfig, type Config } from '../../src/config';
import { asUserId } from '../../src/ids';
import { configureLogging } from '../../src/log';
import { MatrixClient } from '../../src/matrix/client';
import { Metrics } from '../../src/metrics';
import { randomBytes } from 'node:crypto';
import { SecretBox } from '../../src/store/secret-box';
import { SqliteStore } from '../../src/store/sqlite';
import type { Store } from '../../src/store/store';
import { Registry } from 'prom-client';
import { FakeHomeserver, type RecordedRequest } from '../fakes/fake-homeserver';
import { type FakeIrcClient, FakeIrcd, type FakeIrcdOptions } from '../fakes/fake-ircd';

export const BOT = '@ircbridge:hs.test';
export const WAIT = 5000;

let counter = 0;

/** An m.room.member event. */
export function memberEvent(roomId: string, userId: string, membership: string,
  o: { displayname?: string; sender?: string; isDirect?: boolean; prev?: string; reason?: string } = {}): Record<string, unknown> {
  return {
    type: 'm.room.member', room_id: roomId, sender: o.sender ?? userId, state_key: userId, event_id: `$f${++counter}`,
    origin_server_ts: Date.now(),
    content: { membership, ...(o.displayname ? { displayname: o.displayname } : {}), ...(o.isDirect ? { is_direct: true } : {}),
      ...(o.reason ? { reason: o.reason } : {}) },
    ...(o.prev ? { unsigned: { prev_content: { membership: o.prev } } } : {}),
  };
}

/** An m.room.message event. */
export function messageEvent(roomId: string, sender: string, body: string, msgtype = 'm.text'): Record<string, unknown> {
  return { type: 'm.room.message', room_id: roomId, sender, event_id: `$f${++counter}`, origin_server_ts: Date.now(),
    content: { msgtype, body } };
}

/** The bridge context of a spec: the fake homeserver's client (quick retries), fresh metrics. */
export function specContext(hsUrl: string, store: Store): BridgeContext {
  return {
    store,
    matrix: new MatrixClient({ homeserverUrl: hsUrl, asToken: 'as-secret', backoffMs: 5, maxAttempts: 2 }),
    metrics: new Metrics(new Registry(), { defaults: false }),
    domain: 'hs.test',
    botUserId: asUserId(BOT),
    mediaUrl: 'https://media.hs.test',
  };
}

/** Polls `fn` (bounded) until it returns something truthy. */
export async function until<T>(fn: () => T | undefined | null | false, what: string, timeoutMs = WAIT): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) {
      return v;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface Fixture {
  hs: FakeHomeserver;
  ircd: FakeIrcd;
  store: SqliteStore;
  bridge: Bridge;
  ctx: BridgeContext;
  config: Config;
  /** The bot's connection as the fake server sees it. */
  bot: FakeIrcClient;
  /** Hands events to the bridge as one transaction. */
  push(...events: unknown[]): void;
  /** Bodies of m.room.message sends as `userId` (default: the bot) to `roomId` (default: any). */
  sentBy(userId?: string, roomId?: string): string[];
  sends(): RecordedRequest[];
  close(): Promise<void>;
}

export interface FixtureOptions {
  /** Merged into networks.test. */
  network?: Record<string, unknown>;
  /** Merged into the top level of the config. */
  config?: Record<string, unknown>;
  /** More networks on the same fake server (their bots connect too; `bot` may be any of them). */
  extraNetworks?: Record<string, Record<string, unknown>>;
  ircd?: FakeIrcdOptions;
  bridge?: BridgeOptions;
}

/** The answers every bridge spec needs from the homeserver: registrations, profiles, joins
 *  and createRoom (answering `roomId`), membership changes, sends, redactions and state. */
export function answerCommonRoutes(hs: FakeHomeserver, roomId: string): FakeHomeserver {
  return hs.on('POST', '/_matrix/client/v3/register', { status: 200, body: {} })
    .on('PUT', /\/profile\//, { status: 200, body: {} })
    .on('POST', /\/join\//, { status: 200, body: { room_id: roomId } })
    .on('POST', /\/(leave|invite|kick|ban|unban)$/, { status: 200, body: {} })
    .on('POST', '/_matrix/client/v3/createRoom', { status: 200, body: { room_id: roomId } })
    .on('PUT', /\/send\//, { status: 200, body: { event_id: '$sent' } })
    .on('PUT', /\/redact\//, { status: 200, body: { event_id: '$redacted' } })
    .on('PUT', /\/state\//, { status: 200, body: { event_id: '$state' } });
}

/** Starts the fixture: fake servers (with generous default answers), store, bridge, its bot. */
export async function startFixture(o: FixtureOptions = {}): Promise<Fixture> {
  configureLogging({ level: process.env.SPEC_LOG ? 'debug' : 'error', sink: { write: (l: string) => {
    if (process.env.SPEC_LOG) process.stderr.write(l);
  } } });
  const hs = new FakeHomeserver();
  answerCommonRoutes(hs, '!joined:hs.test')
    .on('GET', /\/joined_members$/, { status: 200, body: { joined: { [BOT]: {} } } });
  const hsUrl = await hs.listen();
  const ircd = new FakeIrcd(o.ircd);
  const port = await ircd.listen();
  const config = parseConfig({
    homeserver: { url: hsUrl, domain: 'hs.test' },
    networks: {
      test: { host: '127.0.0.1', port, send_burst: 100, send_rate: 100, connect_timeout_ms: 3000, ...o.network },
      ...Object.fromEntries(Object.entries(o.extraNetworks ?? {}).map(([id, n]) => [id, { host: '127.0.0.1', port, ...n }])),
    },
    ...o.config,
  });
  const store = new SqliteStore(':memory:', SecretBox.fromKey(randomBytes(32)));
  const ctx = specContext(hsUrl, store);
  const bridge = new Bridge(ctx, config.networks, o.bridge);
  await bridge.start();
  const bot = await ircd.client(0);
  await bot.waitFor((l) => l.command === 'USER');
  let txn = 0;
  const sends = (): RecordedRequest[] => hs.requestsTo('PUT', /\/send\/m\.room\.message\//);
  return {
    hs, ircd, store, bridge, ctx, config, bot, sends,
    push: (...events) => {
      if (bridge.acceptTransaction(`fx${++txn}`, events)) {
        bridge.afterTransaction();
      }
    },
    sentBy: (userId = BOT, roomId) => sends()
      .filter((r) => r.query.user_id === userId && (roomId === undefined || r.path.includes(encodeURIComponent(roomId))))
      .map((r) => String((r.body as { body?: unknown }).body)),
    close: async () => {
      await bridge.stop('test over');
      await ircd.close();
      await hs.close();
      store.close();
    },
  };
}
