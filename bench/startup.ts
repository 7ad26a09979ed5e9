/**
 * The `startup` scenario: how fast a bridge with many stored users and rooms serves again after
 * a restart. Before the bridge starts, its SQLite database is filled through the bridge's own
 * store (lib/store, with its migrations) with `users` Matrix users who have puppets (nick,
 * username, last activity) and are members of `rooms` bridged rooms, each room with a little
 * history the bridge has already handled. The fake homeserver knows the same rooms, members and
 * history. Then the bridge is spawned and, from that moment, the scenario measures when
 * /health answers, when the first appservice transaction is answered 200, when the bot is on
 * IRC, when a Matrix message sent in that first transaction reaches IRC, and how the puppets
 * reconnect over time with the bridge's CPU use and RSS.
 *
 * It runs on its own (its own InspIRCd, homeserver and bridge), started by run.ts for
 * `--scenarios startup`, and writes its own report.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as yaml from 'js-yaml';
import type { SqliteStore } from '../src/store/sqlite';
import type { Channel, NetworkId, Nick, RoomId, UserId } from '../src/ids';
import { bridgeMain, repoRoot } from '../spec/e2e/harness/bridge';
import { startInspircd, type InspircdHandle } from '../spec/e2e/harness/inspircd';
import { freePorts } from '../spec/e2e/harness/ports';
import { spawnLogged, type ManagedProcess } from '../spec/e2e/harness/proc';
import { FakeHomeserver, nowMs, type SeededRoom } from './fake-homeserver';
import { IrcObserver } from './irc-observer';
import { summarizeProfile, type ProfileSummary } from './profile';
import { BOT_NICK, DOMAIN, NETWORK, writeBridgeFiles } from './bridge-files';
import { bridgeLogLines, type LogFindings, machineLine, type MachineInfo, profileLines } from './report';
import { round, sampleProcess, sleep } from './stats';

const OBSERVER_NICK = 'observer';
/** The harness's InspIRCd accepts this many clients (spec/e2e/harness/inspircd.ts). */
/** Clients the scenario's InspIRCd takes: every stored user's puppet, the bot and the observer. */
const ircdClientLimit = (users: number): number => Math.max(5000, users + 100);
/** Seconds after the spawn at which the puppet count is reported. */
const MILESTONES_S = [1, 2, 3, 5, 10, 15, 20, 30, 45, 60, 90, 120];
const SAMPLE_MS = 250;

export interface StartupOptions {
  users: number;
  rooms: number;
  /** How long (s) to watch the puppets reconnect before stopping the bridge. */
  watchSeconds: number;
  concurrency: number;
  deaf: string;
  logLevel: string;
  profile: boolean;
  keep: boolean;
  outDir: string;
  /** Delay (ms) of every fake homeserver answer. */
  hsDelayMs: number;
}

/** What run.ts's scanLog finds in the bridge log. */
export type LogSummary = LogFindings;

export interface StartupHelpers {
  machine: MachineInfo;
  scanLog: (logPath: string, stopIso: string | null) => LogSummary;
  out: (line?: string) => void;
  progress: (line: string) => void;
}

// ---- the stored population ----

interface StoredRoom {
  roomId: RoomId;
  channel: Channel;
  alias: string;
}

interface StoredUser {
  userId: UserId;
  displayName: string;
  nick: Nick;
  username: string;
  /** ms since the epoch; 0: never recorded. */
  lastActive: number;
  /** Indexes into the rooms. */
  rooms: number[];
}

/**
 * A deterministic population: user i is in room (i - 1) mod R, every second user in one more
 * room, every fifth in a third, and every 20th user in the first room (a big channel, as
 * bridges have). Two users in three have a recorded last activity (spread over the last days).
 */
export function population(users: number, rooms: number, now: number): { rooms: StoredRoom[]; users: StoredUser[] } {
  const rs: StoredRoom[] = Array.from({ length: rooms }, (_, j) => ({
    roomId: `!startup${j + 1}:${DOMAIN}` as RoomId,
    channel: `#room${j + 1}` as Channel,
    alias: `#${NETWORK}_room${j + 1}:${DOMAIN}`,
  }));
  const us: StoredUser[] = [];
  for (let i = 1; i <= users; i++) {
    const set = new Set<number>([(i - 1) % rooms]);
    if (i % 2 === 0) {
      set.add((i * 7) % rooms);
    }
    if (i % 5 === 0) {
      set.add((i * 13) % rooms);
    }
    if (i % 20 === 0) {
      set.add(0);
    }
    us.push({
      userId: `@su${i}:${DOMAIN}` as UserId,
      displayName: `Stored User ${i}`,
      nick: `StoredUser${i}[m]` as Nick,
      username: `su${i}`,
      lastActive: i % 3 === 0 ? 0 : now - i * 37_000,
      rooms: [...set].sort((a, b) => a - b),
    });
  }
  return { rooms: rs, users: us };
}

/** A few messages per room the bridge handled before its stop (so the catch-up has a place to
 *  resume from and the homeserver history to read). */
function roomHistory(room: StoredRoom, members: StoredUser[], now: number): Array<Record<string, unknown>> {
  return Array.from({ length: 3 }, (_, k) => ({
    type: 'm.room.message',
    room_id: room.roomId,
    sender: members[k % Math.max(1, members.length)]?.userId ?? `@su1:${DOMAIN}`,
    event_id: `$hist${k}_${room.roomId.slice(1, room.roomId.indexOf(':'))}:${DOMAIN}`,
    origin_server_ts: now - 30 * 60_000 + k * 1000,
    content: { msgtype: 'm.text', body: `earlier message ${k}` },
  }));
}

/** Fills the bridge's database through its own store code (lib/store, migrations included). */
async function fillStore(dbPath: string, pop: { rooms: StoredRoom[]; users: StoredUser[] },
  history: Map<RoomId, Array<Record<string, unknown>>>): Promise<{ ms: number; inboundLeft: number }> {
  const t0 = nowMs();
  // The built store, so the migrations the bridge will find are the ones applied here.
  const mod = (await import(path.join(repoRoot(), 'lib', 'store', 'sqlite.js'))) as { SqliteStore: typeof SqliteStore };
  const store = new mod.SqliteStore(dbPath, null);
  try {
    const network = NETWORK as NetworkId;
    for (const r of pop.rooms) {
      store.upsertRoomMapping({ network, channel: r.channel, roomId: r.roomId, origin: 'alias', key: null }, r.channel.toLowerCase());
    }
    for (const u of pop.users) {
      store.savePuppet({ userId: u.userId, network, nick: u.nick, username: u.username });
      if (u.lastActive > 0) {
        store.setPuppetActivity(u.userId, network, u.lastActive);
      }
      for (const j of u.rooms) {
        store.addMember({ roomId: (pop.rooms[j] as StoredRoom).roomId, userId: u.userId, displayName: u.displayName });
      }
    }
    // The history was accepted and handled before the stop: accepted (seen event IDs, the
    // newest timestamp per room), then deleted as handled.
    for (const [roomId, events] of history) {
      store.acceptEvents(`seed:${roomId}`, events.map((e) => ({
        roomId, json: JSON.stringify(e), eventId: e.event_id as string, ts: e.origin_server_ts as number,
      })));
    }
    for (const ev of store.listInboundEvents()) {
      store.deleteInboundEvent(ev.seq);
    }
    return { ms: nowMs() - t0, inboundLeft: store.listInboundEvents().length };
  } finally {
    store.close();
  }
}

// ---- the run ----

interface Sample {
  /** ms since the spawn */
  t: number;
  registered: number | null;
  connecting: number | null;
  cpuMs: number;
  rssKb: number;
  messagesRequests: number;
}

export interface StartupResult {
  users: number;
  rooms: number;
  memberships: number;
  largestRoom: number;
  concurrency: number;
  hsDelayMs: number;
  fillMs: number;
  /** All times in ms from spawning the bridge process. */
  firstHttpAnswerMs: number | null;
  healthReadyMs: number | null;
  firstTransactionMs: number | null;
  /** Attempts until the first transaction was answered 200. */
  transactionAttempts: number;
  botFirstJoinMs: number | null;
  botLastJoinMs: number | null;
  /** The message sent in the first transaction, seen on IRC. */
  firstMessageOnIrcMs: number | null;
  /** A message sent once /health answered 200: its transaction answered, and seen on IRC. */
  afterReadyTransactionMs: number | null;
  afterReadyOnIrcMs: number | null;
  /** When the bridge started reading room history (catch-up) and how many /messages it made. */
  catchUpFirstMs: number | null;
  /** The first sample that saw the catch-up's last /messages request. */
  catchUpLastMs: number | null;
  catchUpRequests: number;
  /** Puppets registered at each milestone (s after the spawn). */
  milestones: Array<{ s: number; registered: number | null; connecting: number | null; cpuPercent: number | null }>;
  /** Times at which 10 %, 50 %, 90 % of the reachable puppets were registered. */
  reachable: number;
  reachedMs: Record<string, number | null>;
  maxRegistered: number;
  /** Puppet registrations per second and the bridge's CPU (% of one core) while the count rose. */
  reconnectWindow: { fromMs: number; toMs: number; puppets: number; perSecond: number | null; cpuPercent: number | null } | null;
  cpuMsTotal: number;
  peakRssKb: number | null;
  rssAtEndKb: number | null;
  stopMs: number | null;
  homeserverRequests: Record<string, number>;
  /** TCP connections the bridge opened to the homeserver, and the most open at once. */
  homeserverConnections: number;
  homeserverMaxOpen: number;
  samples: Sample[];
}

interface Procs {
  ircd?: InspircdHandle;
  hs?: FakeHomeserver;
  bridge?: ManagedProcess;
  observer?: IrcObserver;
}

async function puppetCounts(metricsPort: number): Promise<{ registered: number; connecting: number } | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(2000) });
    const text = await res.text();
    const pick = (state: string): number => {
      const m = new RegExp(`^ircbridge_irc_connections\\{[^}]*state="${state}"[^}]*\\} ([0-9.e+-]+)$`, 'm').exec(text);
      return m ? Number(m[1]) : 0;
    };
    return { registered: pick('puppet_registered'), connecting: pick('puppet_connecting') };
  } catch {
    return null;
  }
}

function peakRss(pid: number): number | null {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

async function measure(opts: StartupOptions, dir: string, resultsDir: string, procs: Procs,
  progress: (line: string) => void): Promise<{ result: StartupResult; logPath: string }> {
  progress(`startup: starting InspIRCd in ${dir}/inspircd`);
  const ircd = await startInspircd(path.join(dir, 'inspircd'), { maxConnections: ircdClientLimit(opts.users) });
  procs.ircd = ircd;
  const [hsPort, asPort, metricsPort] = (await freePorts(3)) as [number, number, number];
  const files = writeBridgeFiles(path.join(dir, 'bridge'), opts, { hs: hsPort, as: asPort, metrics: metricsPort, irc: ircd.port });
  const reg = yaml.load(fs.readFileSync(files.regPath, 'utf8')) as { as_token: string; hs_token: string };

  const now = Date.now();
  const pop = population(opts.users, opts.rooms, now);
  const membersOf = new Map<number, StoredUser[]>();
  for (const u of pop.users) {
    for (const j of u.rooms) {
      const list = membersOf.get(j) ?? [];
      list.push(u);
      membersOf.set(j, list);
    }
  }
  const history = new Map<RoomId, Array<Record<string, unknown>>>();
  for (const [j, room] of pop.rooms.entries()) {
    history.set(room.roomId, roomHistory(room, membersOf.get(j) ?? [], now));
  }
  progress(`startup: filling the store with ${opts.users} users in ${opts.rooms} rooms`);
  const fill = await fillStore(files.dbPath, pop, history);
  progress(`startup: store filled in ${Math.round(fill.ms)} ms`);

  const hs = new FakeHomeserver({ asToken: reg.as_token, hsToken: reg.hs_token, domain: DOMAIN,
    appserviceUrl: `http://127.0.0.1:${asPort}`, delayMs: opts.hsDelayMs });
  const botUser = `@ircbridge:${DOMAIN}`;
  for (const [j, room] of pop.rooms.entries()) {
    const members = membersOf.get(j) ?? [];
    const seed: SeededRoom = {
      roomId: room.roomId,
      alias: room.alias,
      members: [[botUser, null], ...members.map((u): [string, string | null] => [u.userId, u.displayName])],
      state: [{ type: 'm.room.power_levels', stateKey: '', content: { users: { [botUser]: 100 }, users_default: 0 } }],
      history: history.get(room.roomId),
    };
    hs.seedRoom(seed);
  }
  await hs.listen(hsPort);
  procs.hs = hs;

  // The observer sits in the first and the last channel the bot joins (mappings are listed by
  // folded channel name) and in the probe's room.
  const byName = [...pop.rooms].sort((a, b) => (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : 0));
  const firstCh = (byName[0] as StoredRoom).channel;
  const lastCh = (byName[byName.length - 1] as StoredRoom).channel;
  const probeRoom = pop.rooms[0] as StoredRoom;
  // The probe's sender: a member of the first room who has no recorded activity, so nothing but
  // the waiting message moves them up the reconnect queue.
  const quiet = (membersOf.get(0) ?? []).filter((u) => u.lastActive === 0);
  const sender = quiet[0] ?? (membersOf.get(0) ?? [])[0] as StoredUser;
  // The second probe's sender, for a message sent once /health answers 200.
  const lateSender = quiet[1] ?? sender;
  const observer = await IrcObserver.connect(ircd.port, OBSERVER_NICK);
  procs.observer = observer;
  for (const ch of new Set([firstCh, lastCh, probeRoom.channel])) {
    await observer.join(ch);
  }

  const nodeArgs = ['--expose-gc', '-r', path.join(__dirname, 'bridge-hooks.js')];
  if (opts.profile) {
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${resultsDir}`);
  }
  const marks: { bot: Map<string, number>; probe: number | null; lateProbe: number | null } =
    { bot: new Map(), probe: null, lateProbe: null };
  let t0 = 0;
  const probeText = `startup probe ${process.pid}`;
  const lateProbeText = `startup probe after ready ${process.pid}`;
  observer.on((l) => {
    if (l.command === 'JOIN' && l.nick === BOT_NICK && !marks.bot.has((l.params[0] ?? '').toLowerCase())) {
      marks.bot.set((l.params[0] ?? '').toLowerCase(), l.receivedMs - t0);
    } else if (l.command === 'PRIVMSG' && marks.probe === null && (l.params[1] ?? '') === probeText) {
      marks.probe = l.receivedMs - t0;
    } else if (l.command === 'PRIVMSG' && marks.lateProbe === null && (l.params[1] ?? '') === lateProbeText) {
      marks.lateProbe = l.receivedMs - t0;
    }
  });

  progress(`startup: spawning the bridge (${opts.users} stored users, ${opts.rooms} rooms)`);
  t0 = nowMs();
  const bridge = spawnLogged({
    name: 'bridge', command: process.execPath, args: [...nodeArgs, bridgeMain(), '-c', files.configPath, '-f', files.regPath],
    logPath: files.logPath, cwd: repoRoot(), env: { ...process.env, BENCH_MEM_FILE: path.join(dir, 'bridge', 'memory.json') },
  });
  procs.bridge = bridge;
  const since = (): number => nowMs() - t0;

  const probeEvent = (from: StoredUser, body: string): Record<string, unknown> => ({
    type: 'm.room.message', room_id: probeRoom.roomId, sender: from.userId, event_id: hs.newEventId(),
    origin_server_ts: Date.now(), content: { msgtype: 'm.text', body }, unsigned: { age: 0 },
  });
  // /health, as fast as sensible; once it answers 200, a second message goes out.
  let firstHttp: number | null = null;
  let ready: number | null = null;
  let lateTxn: Promise<void> = Promise.resolve();
  let lateTxnMs: number | null = null;
  const health = (async () => {
    for (let i = 0; i < 3000 && ready === null && bridge.isRunning(); i++) {
      try {
        const res = await fetch(`http://127.0.0.1:${asPort}/health`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        firstHttp ??= since();
        if (res.status === 200) {
          ready = since();
          lateTxn = hs.pushTransaction([probeEvent(lateSender, lateProbeText)]).then(() => {
            lateTxnMs = since();
          }, (err: Error) => progress(`startup: the transaction after ready failed: ${err.message}`));
        }
      } catch {
        // not listening yet
      }
      await sleep(10);
    }
  })();
  // The first transaction: one message of a stored user, tried until it is answered 200.
  let firstTxn: number | null = null;
  let attempts = 0;
  const txn = (async () => {
    for (; attempts < 3000 && firstTxn === null && bridge.isRunning();) {
      attempts++;
      try {
        await hs.pushTransaction([probeEvent(sender, probeText)]);
        firstTxn = since();
      } catch {
        await sleep(10);
      }
    }
  })();

  // Puppets, CPU and RSS over time.
  const samples: Sample[] = [];
  const reachable = Math.min(opts.users, ircdClientLimit(opts.users) - 2);
  const watchMs = opts.watchSeconds * 1000;
  for (let i = 0; i < 100_000 && bridge.isRunning(); i++) {
    const counts = await puppetCounts(metricsPort);
    let proc;
    try {
      proc = sampleProcess(bridge.pid);
    } catch {
      break;
    }
    samples.push({ t: Math.round(since()), registered: counts?.registered ?? null, connecting: counts?.connecting ?? null,
      cpuMs: Math.round(proc.cpuMs), rssKb: proc.rssKb, messagesRequests: hs.requests.get('GET messages') ?? 0 });
    const done = (counts?.registered ?? 0) >= reachable && marks.probe !== null && marks.lateProbe !== null;
    if (since() >= watchMs || done) {
      break;
    }
    const next = (i + 1) * SAMPLE_MS - since();
    await sleep(Math.max(5, next));
  }
  await Promise.race([Promise.all([health, txn, lateTxn]), sleep(2000)]);
  const peak = peakRss(bridge.pid);
  const endSample = samples[samples.length - 1];
  const requests = hs.requestCounts();

  progress('startup: stopping the bridge');
  const stopStart = nowMs();
  let stopMs: number | null = null;
  if (bridge.isRunning()) {
    await bridge.stop(20_000);
    stopMs = Math.round(nowMs() - stopStart);
  }

  const at = (ms: number): Sample | undefined => [...samples].reverse().find((s) => s.t <= ms);
  const cpuPct = (a: Sample | undefined, b: Sample | undefined): number | null =>
    a && b && b.t > a.t ? round(((b.cpuMs - a.cpuMs) / (b.t - a.t)) * 100) : null;
  const milestones = MILESTONES_S.filter((s) => s * 1000 <= (endSample?.t ?? 0) + SAMPLE_MS).map((s) => {
    const here = at(s * 1000);
    const prev = at(s * 1000 - 1000);
    return { s, registered: here?.registered ?? null, connecting: here?.connecting ?? null, cpuPercent: cpuPct(prev, here) };
  });
  const maxRegistered = Math.max(0, ...samples.map((s) => s.registered ?? 0));
  const reachedMs: Record<string, number | null> = {};
  for (const f of [0.1, 0.5, 0.9, 1]) {
    const need = Math.ceil(reachable * f);
    reachedMs[`${Math.round(f * 100)}%`] = samples.find((s) => (s.registered ?? 0) >= need)?.t ?? null;
  }
  // While the count rises: from the first registered puppet to the last rise.
  const firstUp = samples.find((s) => (s.registered ?? 0) > 0);
  const lastUp = [...samples].reverse().find((s, i, rev) => (rev[i + 1]?.registered ?? 0) < (s.registered ?? 0));
  const reconnectWindow = firstUp && lastUp && lastUp.t > firstUp.t ? {
    fromMs: firstUp.t,
    toMs: lastUp.t,
    puppets: (lastUp.registered ?? 0) - (firstUp.registered ?? 0),
    perSecond: round((((lastUp.registered ?? 0) - (firstUp.registered ?? 0)) * 1000) / (lastUp.t - firstUp.t)),
    cpuPercent: cpuPct(firstUp, lastUp),
  } : null;
  const firstCatchUp = samples.find((s) => s.messagesRequests > 0);
  const memberships = pop.users.reduce((n, u) => n + u.rooms.length, 0);
  const result: StartupResult = {
    users: opts.users,
    rooms: opts.rooms,
    memberships,
    largestRoom: Math.max(...[...membersOf.values()].map((l) => l.length)),
    concurrency: opts.concurrency,
    hsDelayMs: opts.hsDelayMs,
    fillMs: Math.round(fill.ms),
    firstHttpAnswerMs: round(firstHttp),
    healthReadyMs: round(ready),
    firstTransactionMs: round(firstTxn),
    transactionAttempts: attempts,
    botFirstJoinMs: round(marks.bot.get(firstCh.toLowerCase()) ?? null),
    botLastJoinMs: round(marks.bot.get(lastCh.toLowerCase()) ?? null),
    firstMessageOnIrcMs: round(marks.probe),
    afterReadyTransactionMs: round(lateTxnMs),
    afterReadyOnIrcMs: round(marks.lateProbe),
    catchUpFirstMs: firstCatchUp?.t ?? null,
    catchUpLastMs: samples.find((s) => s.messagesRequests > 0 && s.messagesRequests >= (requests['GET messages'] ?? 0))?.t ?? null,
    catchUpRequests: requests['GET messages'] ?? 0,
    milestones,
    reachable,
    reachedMs,
    maxRegistered,
    reconnectWindow,
    cpuMsTotal: endSample?.cpuMs ?? 0,
    peakRssKb: peak,
    rssAtEndKb: endSample?.rssKb ?? null,
    stopMs,
    homeserverRequests: requests,
    homeserverConnections: hs.connections,
    homeserverMaxOpen: hs.maxOpenConnections,
    samples,
  };
  return { result, logPath: files.logPath };
}

async function stopAll(procs: Procs, progress: (line: string) => void): Promise<void> {
  const step = async (name: string, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      progress(`stopping ${name} failed: ${(err as Error).message}`);
    }
  };
  await step('observer', async () => procs.observer?.quit());
  await step('bridge', async () => procs.bridge?.stop(20_000));
  await step('fake homeserver', async () => procs.hs?.close());
  await step('InspIRCd', async () => procs.ircd?.stop());
}

const fmt = (v: number | null | undefined, unit = ''): string => (v === null || v === undefined ? 'n/a' : `${v}${unit}`);

export function startupMarkdown(m: MachineInfo, opts: StartupOptions, r: StartupResult | null, log: LogSummary,
  bridgeExit: string | null, profile: ProfileSummary | null, error: string | null): string {
  const lines: string[] = [];
  lines.push(`# matrix-irc-bridge benchmark: start-up, ${m.date}`);
  lines.push('');
  lines.push(machineLine(m));
  lines.push('');
  if (r) {
    lines.push(`## startup: ${r.users} stored users, ${r.rooms} bridged rooms (${r.memberships} memberships, largest room ` +
      `${r.largestRoom}), \`max_concurrent_connects: ${r.concurrency}\`${r.hsDelayMs ? `, homeserver answers delayed ${r.hsDelayMs} ms` : ''}`);
    lines.push('');
    lines.push('Times from spawning the bridge process.');
    lines.push('');
    lines.push('| metric | value |');
    lines.push('| --- | --- |');
    lines.push(`| store filled (before the spawn, through lib/store) | ${r.fillMs} ms |`);
    lines.push(`| first HTTP answer (/health, any status) | ${fmt(r.firstHttpAnswerMs, ' ms')} |`);
    lines.push(`| first transaction answered 200 | ${fmt(r.firstTransactionMs, ' ms')} (${r.transactionAttempts} attempts) |`);
    lines.push(`| /health answers 200 | ${fmt(r.healthReadyMs, ' ms')} |`);
    lines.push(`| bot JOIN seen in the first / last of its ${r.rooms} channels | ${fmt(r.botFirstJoinMs, ' ms')} / ${fmt(r.botLastJoinMs, ' ms')} |`);
    lines.push(`| catch-up: first / last /messages seen (250 ms samples), requests | ${fmt(r.catchUpFirstMs, ' ms')} / ` +
      `${fmt(r.catchUpLastMs, ' ms')}, ${r.catchUpRequests} |`);
    lines.push(`| the first transaction's message seen on IRC | ${fmt(r.firstMessageOnIrcMs, ' ms')} |`);
    lines.push(`| a message sent when /health answered 200: transaction answered / seen on IRC | ` +
      `${fmt(r.afterReadyTransactionMs, ' ms')} / ${fmt(r.afterReadyOnIrcMs, ' ms')} |`);
    lines.push(`| puppets registered: most seen / reachable | ${r.maxRegistered} / ${r.reachable} (InspIRCd allows ${ircdClientLimit(opts.users)} clients) |`);
    lines.push(`| 10 % / 50 % / 90 % / all reachable puppets registered | ${fmt(r.reachedMs['10%'], ' ms')} / ${fmt(r.reachedMs['50%'], ' ms')} / ` +
      `${fmt(r.reachedMs['90%'], ' ms')} / ${fmt(r.reachedMs['100%'], ' ms')} |`);
    const w = r.reconnectWindow;
    lines.push(`| while puppets reconnected | ${w ? `${w.puppets} puppets in ${round((w.toMs - w.fromMs) / 1000)} s: ${fmt(w.perSecond)} a second, ` +
      `bridge CPU ${fmt(w.cpuPercent, ' %')} of one core` : 'n/a'} |`);
    lines.push(`| bridge CPU (user+sys) until the end of the watch | ${r.cpuMsTotal} ms |`);
    lines.push(`| peak RSS (VmHWM) / RSS at the end | ${fmt(r.peakRssKb, ' KB')} / ${fmt(r.rssAtEndKb, ' KB')} |`);
    lines.push(`| clean stop (SIGTERM to exit) | ${fmt(r.stopMs, ' ms')} |`);
    lines.push('');
    lines.push('| s after spawn | puppets registered | connecting | bridge CPU over the second before |');
    lines.push('| --- | --- | --- | --- |');
    for (const ms of r.milestones) {
      lines.push(`| ${ms.s} | ${fmt(ms.registered)} | ${fmt(ms.connecting)} | ${fmt(ms.cpuPercent, ' %')} |`);
    }
    lines.push('');
    lines.push(`Homeserver requests: ${Object.entries(r.homeserverRequests).map(([k, v]) => `${k} ${v}`).join(', ')}; ` +
      `${r.homeserverConnections} TCP connections, at most ${r.homeserverMaxOpen} open at once.`);
    lines.push('');
  }
  lines.push(...bridgeLogLines(log, opts.logLevel, bridgeExit));
  lines.push(...profileLines(profile));
  if (error) {
    lines.push('');
    lines.push('## run failed');
    lines.push('');
    lines.push('```');
    lines.push(error);
    lines.push('```');
  }
  return lines.join('\n') + '\n';
}

/** Runs the start-up scenario with its own servers and writes its report; returns the exit code. */
export async function runStartupBench(opts: StartupOptions, h: StartupHelpers): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mib-bench-startup-'));
  const resultsDir = path.join(opts.outDir, h.machine.date.replace(/[:.]/g, '-'));
  fs.mkdirSync(resultsDir, { recursive: true });
  const procs: Procs = {};
  let stopping = false;
  const onSignal = (signal: string): void => {
    if (stopping) {
      return;
    }
    stopping = true;
    h.progress(`${signal}: stopping`);
    void stopAll(procs, h.progress).finally(() => process.exit(130));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  const watchdog = setTimeout(() => onSignal('watchdog'), (opts.watchSeconds + 600) * 1000);
  watchdog.unref();

  let result: StartupResult | null = null;
  let logPath = path.join(dir, 'bridge', 'bridge.log');
  let error: string | null = null;
  let bridgeExit: string | null = null;
  let stopIso: string | null = null;
  try {
    const r = await measure(opts, dir, resultsDir, procs, (line) => {
      if (line.startsWith('startup: stopping')) {
        stopIso = new Date().toISOString();
      }
      h.progress(line);
    });
    result = r.result;
    logPath = r.logPath;
  } catch (err) {
    error = (err as Error).message;
    h.progress(`FAILED: ${error}`);
    if (procs.bridge && !procs.bridge.isRunning()) {
      bridgeExit = String(await procs.bridge.exited);
    }
  } finally {
    clearTimeout(watchdog);
    stopIso ??= new Date().toISOString();
    if (!stopping) {
      await stopAll(procs, h.progress);
    }
  }
  const log = h.scanLog(logPath, stopIso);
  let profile: ProfileSummary | null = null;
  const profFile = fs.readdirSync(resultsDir).find((f) => f.endsWith('.cpuprofile'));
  if (profFile) {
    try {
      profile = summarizeProfile(path.join(resultsDir, profFile));
    } catch (err) {
      h.progress(`could not read the CPU profile: ${(err as Error).message}`);
    }
  }
  const md = startupMarkdown(h.machine, opts, result, log, bridgeExit, profile, error);
  fs.writeFileSync(path.join(resultsDir, 'results.json'), JSON.stringify({
    machine: h.machine, options: opts, startup: result, bridgeLog: log, bridgeExit, profile, error,
  }, null, 2) + '\n');
  fs.writeFileSync(path.join(resultsDir, 'results.md'), md);
  if (fs.existsSync(logPath) && fs.statSync(logPath).size < 20 * 1024 * 1024) {
    fs.copyFileSync(logPath, path.join(resultsDir, 'bridge.log'));
  }
  h.out(md);
  h.out(`results: ${path.relative(process.cwd(), resultsDir) || resultsDir}`);
  if (error || opts.keep) {
    h.progress(`kept ${dir} for inspection`);
  } else {
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  }
  return error ? 1 : 0;
}
