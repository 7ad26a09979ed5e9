/**
 * `npm run bench`: starts InspIRCd (the e2e harness's starter), a fake homeserver and the built
 * bridge as its own process, then runs the selected scenarios and reports numbers (no pass/fail).
 *
 *   npm run bench -- [--scenarios connect,latency,throughput] [--n 100[,1000,...]] [--batch 100]
 *                    [--rate 50] [--count 500] [--rates 100,200,...] [--step-seconds 5]
 *                    [--out DIR] [--keep] [--log-level warn] [--profile]
 *   npm run bench -- --scenarios startup [--users 10000] [--rooms 1000] [--watch 30] [--hs-delay 0]
 *
 * With several N (`--n 100,1000,4000`), the scenarios run once per N, each with a fresh InspIRCd
 * and bridge, and the report starts with a table of every N and a chart (chart.svg).
 *
 * Results: a markdown table on stdout; results.json, results.md, chart.svg (several N) and the
 * bridge log in bench-results/<timestamp>/.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as yaml from 'js-yaml';
import { bridgeMain, repoRoot } from '../spec/e2e/harness/bridge';
import { startInspircd, type InspircdHandle } from '../spec/e2e/harness/inspircd';
import { freePorts } from '../spec/e2e/harness/ports';
import { spawnLogged, type ManagedProcess } from '../spec/e2e/harness/proc';
import { sweepChart, type SweepPoint } from './chart';
import { FakeHomeserver, nowMs, type SentEvent } from './fake-homeserver';
import { IrcObserver } from './irc-observer';
import { summarizeProfile, type ProfileSummary } from './profile';
import { BOT_NICK, DOMAIN, NETWORK, writeBridgeFiles } from './bridge-files';
import { bridgeLogLines, type LogFindings, machineLine, type MachineInfo, profileLines } from './report';
import { type HeapGroup, heapGrowth, readHeapGroups } from './heap';
import { type FloorResult, floorMarkdown, scenarioFloor } from './floor';
import { runStartupBench } from './startup';
import { machineCpuShares, perSecond, round, sampleMachineCpu, sampleProcess, sleep, summarize, type ProcSample } from './stats';
import { scenarioThroughput, type StepFigures, throughputMarkdown, type ThroughputResult } from './throughput';

const CHANNEL = '#bench';
/** When a started bridge has done its start's catch-up of the benchmark's one room. */
const SETTLED_AFTER_START_MS = 5000;
const ALIAS = `#${NETWORK}_${CHANNEL.slice(1)}:${DOMAIN}`;
const OBSERVER_NICK = 'observer';
/** The whole run is abandoned after this long, whatever happens. */
const WATCHDOG_MS = 15 * 60_000;

const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};
const progress = (line: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

interface Options {
  scenarios: string[];
  /** The N of the run in progress (one of `ns`). */
  n: number;
  /** Every N to run, in order (`--n 100,1000`): one fresh environment each. */
  ns: number[];
  batch: number;
  rate: number;
  count: number;
  /** Rates (msg/s) the throughput scenario steps through, each direction. */
  rates: number[];
  /** Seconds of messages per throughput step. */
  stepSeconds: number;
  outDir: string;
  keep: boolean;
  logLevel: string;
  /** Run the bridge under `node --cpu-prof` and summarise the profile. */
  profile: boolean;
  /** networks.<id>.puppet_deaf_mode for the bridge (auto, off or a letter). */
  deaf: string;
  /** networks.<id>.max_concurrent_connects for the bridge. */
  concurrency: number;
  /** Matrix users who take turns sending the Matrix -> IRC messages (latency and throughput). */
  senders: number;
  /** Heap snapshots of the bridge before and after `connect`, summarised by kind of object. */
  heapSnapshot: boolean;
  /** `startup` (bench/startup.ts): stored users and rooms, seconds of reconnects watched, and
   *  the fake homeserver's answer delay. */
  users: number;
  rooms: number;
  watch: number;
  hsDelay: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenarios: { type: 'string', default: 'connect,latency' },
      n: { type: 'string' },
      batch: { type: 'string', default: '100' },
      rate: { type: 'string', default: '50' },
      count: { type: 'string', default: '500' },
      rates: { type: 'string', default: '100,200,350,500,700,1000' },
      'step-seconds': { type: 'string', default: '5' },
      out: { type: 'string' },
      keep: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      'log-level': { type: 'string', default: 'warn' },
      deaf: { type: 'string', default: 'auto' },
      concurrency: { type: 'string', default: '50' },
      senders: { type: 'string', default: '1' },
      'heap-snapshot': { type: 'boolean', default: false },
      users: { type: 'string', default: '10000' },
      rooms: { type: 'string', default: '1000' },
      watch: { type: 'string', default: '30' },
      'hs-delay': { type: 'string', default: '0' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    out('npm run bench -- [--scenarios floor,connect,latency,throughput] [--n 100[,1000,...]] [--batch 100] [--rate 50] [--count 500] ' +
      '[--rates 100,200,350,500,700,1000] [--step-seconds 5] [--out DIR] [--keep] [--log-level warn] [--profile] [--deaf auto|off] [--concurrency 50] [--senders 1] [--heap-snapshot]');
    out('npm run bench -- --scenarios startup [--users 10000] [--rooms 1000] [--watch 30] [--hs-delay 0] [--concurrency 50] [--profile]');
    process.exit(0);
  }
  const int = (name: string, v: string | undefined, min: number, max: number): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) {
      throw new Error(`--${name}: expected a number from ${min} to ${max}, got "${v}"`);
    }
    return n;
  };
  const scenarios = (values.scenarios ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const s of scenarios) {
    if (!['floor', 'connect', 'latency', 'throughput', 'startup'].includes(s)) {
      throw new Error(`--scenarios: unknown scenario "${s}" (known: floor, connect, latency, throughput, startup)`);
    }
  }
  if (scenarios.includes('startup') && scenarios.length > 1) {
    throw new Error('--scenarios: startup runs on its own (its own bridge and database)');
  }
  const list = (name: string, v: string | undefined, min: number, max: number): number[] => {
    const items = (v ?? '').split(',').map((x) => x.trim()).filter((x) => x !== '').map((x) => int(name, x, min, max));
    if (items.length === 0) {
      throw new Error(`--${name}: expected a comma-separated list of numbers`);
    }
    return items;
  };
  // The throughput scenario is measured at N = 1000 unless --n says otherwise.
  const ns = list('n', values.n ?? (scenarios.includes('throughput') ? '1000' : '100'), 1, 10_000).map(Math.floor);
  if (new Set(ns).size !== ns.length) {
    throw new Error(`--n: each N once, got "${values.n}"`);
  }
  return {
    scenarios,
    n: ns[0] as number,
    ns,
    batch: Math.floor(int('batch', values.batch, 1, 1000)),
    rate: int('rate', values.rate, 0.1, 5000),
    count: Math.floor(int('count', values.count, 1, 100_000)),
    rates: [...new Set(list('rates', values.rates, 0.1, 5000))].sort((a, b) => a - b),
    stepSeconds: int('step-seconds', values['step-seconds'], 0.5, 600),
    outDir: values.out ?? path.join(repoRoot(), 'bench-results'),
    keep: values.keep ?? false,
    logLevel: values['log-level'] ?? 'warn',
    profile: values.profile ?? false,
    deaf: values.deaf ?? 'auto',
    concurrency: Math.floor(int('concurrency', values.concurrency, 1, 10000)),
    senders: Math.floor(int('senders', values.senders, 1, 10_000)),
    heapSnapshot: values['heap-snapshot'] ?? false,
    users: Math.floor(int('users', values.users, 1, 100_000)),
    rooms: Math.floor(int('rooms', values.rooms, 1, 10_000)),
    watch: int('watch', values.watch, 1, 600),
    hsDelay: int('hs-delay', values['hs-delay'], 0, 10_000),
  };
}

// ---- the environment ----

interface Env {
  dir: string;
  ircd: InspircdHandle;
  hs: FakeHomeserver;
  bridge: ManagedProcess;
  bridgeLog: string;
  metricsPort: number;
  observer: IrcObserver;
  roomId: string;
  /** Matrix users whose puppets are known to be in the channel. */
  joinedUsers: Set<string>;
  /** The bridge writes a heap snapshot with each memory sample (--heap-snapshot). */
  heapSnapshots: boolean;
  /** nowMs() when the bridge's /health first answered 200. */
  healthyAt: number;
  timeline: Timeline;
}

interface Started {
  ircd?: InspircdHandle;
  hs?: FakeHomeserver;
  bridge?: ManagedProcess;
  observer?: IrcObserver;
}

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function startEnv(dir: string, opts: Options, started: Started, profileDir: string): Promise<Env> {
  const root = repoRoot();
  const main = bridgeMain(root);
  progress(`starting InspIRCd in ${dir}/inspircd`);
  const ircd = await startInspircd(path.join(dir, 'inspircd'), { maxConnections: Math.max(5000, opts.n + 100) });
  started.ircd = ircd;
  const [hsPort, asPort, metricsPort] = (await freePorts(3)) as [number, number, number];

  const bridgeDir = path.join(dir, 'bridge');
  const { configPath, regPath, logPath: bridgeLog } = writeBridgeFiles(bridgeDir, opts,
    { hs: hsPort, as: asPort, metrics: metricsPort, irc: ircd.port });
  const reg = yaml.load(fs.readFileSync(regPath, 'utf8')) as { as_token: string; hs_token: string };

  const hs = new FakeHomeserver({
    asToken: reg.as_token, hsToken: reg.hs_token, domain: DOMAIN, appserviceUrl: `http://127.0.0.1:${asPort}`,
  });
  await hs.listen(hsPort);
  started.hs = hs;

  progress('starting the bridge');
  // Benchmark instrumentation only: SIGUSR2 = full GC and memory figures (bridge-hooks.ts);
  // --profile adds --cpu-prof.
  const nodeArgs = ['--expose-gc', '-r', path.join(__dirname, 'bridge-hooks.js')];
  if (opts.profile) {
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
  }
  const bridge = spawnLogged({
    name: 'bridge', command: process.execPath, args: [...nodeArgs, main, '-c', configPath, '-f', regPath],
    logPath: bridgeLog, cwd: root, env: {
      ...process.env, BENCH_MEM_FILE: path.join(bridgeDir, 'memory.json'),
      ...(opts.heapSnapshot ? { BENCH_HEAP_SNAPSHOT_DIR: bridgeDir } : {}),
    },
  });
  started.bridge = bridge;
  await waitUntil('bridge /health = 200', 30_000, 100, async () => {
    if (!bridge.isRunning()) {
      throw new Error(`the bridge exited (${String(await bridge.exited)}):\n${bridge.tail(40)}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${asPort}/health`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      return res.status === 200;
    } catch {
      return false;
    }
  });
  const healthyAt = nowMs();

  const timeline = new Timeline();
  timeline.start(bridge.pid);
  const observer = await IrcObserver.connect(ircd.port, OBSERVER_NICK);
  started.observer = observer;
  await observer.join(CHANNEL);

  progress(`creating the portal through the alias query ${ALIAS}`);
  const botJoined = observer.waitFor((l) => l.command === 'JOIN' && l.nick === BOT_NICK, 20_000, 'the bridge bot joining');
  if (!(await hs.queryAlias(ALIAS))) {
    throw new Error(`the bridge answered the alias query for ${ALIAS} with "not found"\n${bridge.tail(40)}`);
  }
  await botJoined;
  const roomId = hs.roomOfAlias(ALIAS);
  if (!roomId) {
    throw new Error('the bridge answered the alias query but created no room with that alias');
  }
  // The observer's ghost joins the room when the bridge syncs the channel's members.
  await waitUntil('the observer\'s ghost in the portal room', 15_000, 50,
    () => Promise.resolve(hs.membersOf(roomId).some((u) => u.startsWith(`@${NETWORK}_`))));
  timeline.phase = 'idle';
  return { dir, ircd, hs, bridge, bridgeLog, metricsPort, observer, roomId, joinedUsers: new Set(), timeline, heapSnapshots: opts.heapSnapshot, healthyAt };
}

async function waitUntil(what: string, timeoutMs: number, intervalMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < Math.ceil(timeoutMs / intervalMs) + 1 && Date.now() <= deadline; i++) {
    if (await check()) {
      return;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

async function stopEnv(started: Started): Promise<void> {
  const step = async (name: string, fn: () => Promise<void>): Promise<void> => {
    const t = Date.now();
    try {
      await fn();
      if (Date.now() - t > 2000) {
        progress(`stopping ${name} took ${Date.now() - t} ms`);
      }
    } catch (err) {
      progress(`stopping ${name} failed: ${(err as Error).message}`);
    }
  };
  await step('observer', async () => started.observer?.quit());
  await step('bridge', async () => started.bridge?.stop(10_000));
  await step('fake homeserver', async () => started.hs?.close());
  await step('InspIRCd', async () => started.ircd?.stop());
}

/** Reads values from the bridge's own Prometheus endpoint (null when absent or unreachable). */
async function bridgeMetrics(env: Env): Promise<{ heapUsed: number | null; backlog: number | null; connectMeanMs: number | null }> {
  try {
    const res = await fetch(`http://127.0.0.1:${env.metricsPort}/metrics`, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    const pick = (name: string): number | null => {
      const m = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text);
      return m ? Number(m[1]) : null;
    };
    const sum = pick('ircbridge_irc_connect_seconds_sum\\{network="bench",outcome="ok"\\}');
    const count = pick('ircbridge_irc_connect_seconds_count\\{network="bench",outcome="ok"\\}');
    return {
      heapUsed: pick('nodejs_heap_size_used_bytes'),
      backlog: pick('ircbridge_inbound_backlog_events'),
      connectMeanMs: sum !== null && count ? round((sum * 1000) / count) : null,
    };
  } catch {
    return { heapUsed: null, backlog: null, connectMeanMs: null };
  }
}

/** Waits (bounded) until the bridge has handled every Matrix event it accepted; returns the
 *  backlog left (0 when idle). */
async function waitBacklogEmpty(env: Env, timeoutMs: number): Promise<number | null> {
  const deadline = Date.now() + timeoutMs;
  let backlog: number | null = null;
  for (let i = 0; i < 10_000 && Date.now() <= deadline; i++) {
    backlog = (await bridgeMetrics(env)).backlog;
    if (backlog === null || backlog <= 0) {
      return backlog;
    }
    await sleep(200);
  }
  progress(`the bridge still has ${String(backlog)} unhandled Matrix events after ${timeoutMs} ms`);
  return backlog;
}

/** The bridge's RSS and CPU time every 500 ms through the run, with the phase it was in. */
class Timeline {
  readonly points: Array<{ t: number; phase: string; rssKb: number; cpuMs: number }> = [];
  phase = 'start';
  private timer: NodeJS.Timeout | null = null;
  private readonly t0 = nowMs();

  start(pid: number): void {
    this.timer = setInterval(() => {
      try {
        const s = sampleProcess(pid);
        if (this.points.length < 20_000) {
          this.points.push({ t: Math.round(nowMs() - this.t0), phase: this.phase, rssKb: s.rssKb, cpuMs: Math.round(s.cpuMs) });
        }
      } catch {
        this.stop(); // the process is gone
      }
    }, 500);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}

// ---- Matrix events ----

const userId = (i: number): string => `@bench${i}:${DOMAIN}`;

function memberJoin(env: Env, i: number): Record<string, unknown> {
  return {
    type: 'm.room.member',
    room_id: env.roomId,
    sender: userId(i),
    state_key: userId(i),
    event_id: env.hs.newEventId(),
    origin_server_ts: Date.now(),
    content: { membership: 'join', displayname: `Bench User ${i}` },
    unsigned: { age: 0 },
  };
}

function textMessage(env: Env, sender: string, body: string): Record<string, unknown> {
  return {
    type: 'm.room.message',
    room_id: env.roomId,
    sender,
    event_id: env.hs.newEventId(),
    origin_server_ts: Date.now(),
    content: { msgtype: 'm.text', body },
    unsigned: { age: 0 },
  };
}

/** A puppet's JOIN as the observer sees it: a JOIN to the channel by a nick that is neither the
 *  bot nor the observer; the ident is the Matrix localpart (~benchN). */
function puppetJoin(line: { command: string; nick: string; prefix: string; params: string[] }): string | null {
  if (line.command !== 'JOIN' || (line.params[0] ?? '').toLowerCase() !== CHANNEL || line.nick === BOT_NICK ||
    line.nick === OBSERVER_NICK) {
    return null;
  }
  const ident = /!~?([^@]+)@/.exec(line.prefix)?.[1] ?? line.nick;
  return ident;
}

// ---- scenario: connect ----


interface ConnectResult {
  n: number;
  batch: number;
  transactions: number;
  /** How long the bridge took to answer each transaction (from the PUT to its 200). */
  transactionMs: { p50: number | null; p90: number | null; max: number | null };
  joined: number;
  acceptedAllMs: number;
  firstJoinMs: number | null;
  halfJoinedMs: number | null;
  allJoinedMs: number | null;
  joinsPerSecond: number | null;
  /** Median time between two consecutive puppet JOINs. */
  medianGapMs: number | null;
  /** Puppet JOINs seen in each second from the first transaction (where a slow tail shows). */
  joinsEachSecond: number[];
  /** RSS as found (no forced GC), before the joins and 2 s after the last one. */
  rssBeforeKb: number;
  rssAfterKb: number;
  kbPerPuppet: number | null;
  /** After a forced full GC in the bridge (SIGUSR2, see bridge-hooks.ts). */
  afterGc: {
    before: MemoryFigures | null;
    after: MemoryFigures | null;
    /** KB per puppet of: RSS; RSS less the heap's free space (RSS - heap resident + heap used);
     *  JS heap used; external memory. */
    rssKbPerPuppet: number | null;
    rssLessFreeHeapKbPerPuppet: number | null;
    heapKbPerPuppet: number | null;
    externalKbPerPuppet: number | null;
  };
  cpuMs: number;
  cpuMsPerPuppet: number;
  /** CPU time of the bridge and of InspIRCd from the first transaction to the last JOIN seen:
   *  whether connecting was paced by CPU (either near 100 % of a core) or by the limits. */
  joinWindow: {
    bridgeCpuPercent: number | null;
    ircdCpuPercent: number | null;
    /** The whole machine (every CPU, 100 % = all of them), kernel network work included. */
    machine: { user: number; system: number; softirq: number; idle: number } | null;
  };
  /** With --heap-snapshot: what the JS heap's growth is made of, per puppet. */
  heapGrowth: HeapGroup[] | null;
  /** Mean time from opening a puppet connection to its registration (the bridge's
   *  ircbridge_irc_connect_seconds), over every puppet connected so far. */
  connectMeanMs: number | null;
  homeserverRequests: Record<string, number>;
}

interface MemoryFigures {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** Bytes V8 holds for its young generation (grows under allocation, shrinks only when idle). */
  newSpace: number;
  /** Resident bytes of the V8 heap (live objects and free space V8 keeps). */
  heapPhysical: number;
  /** Which SIGUSR2 of the bridge this was (its heap snapshot is heap-<seq>.heapsnapshot). */
  seq: number;
}

/** RSS without the free space the V8 heap keeps resident: what the process really holds. */
const rssLessFreeHeap = (m: MemoryFigures): number => m.rss - m.heapPhysical + m.heapUsed;

/** Asks the bridge (bridge-hooks.ts) for a full GC and its memory figures afterwards. */
/** Summarises the two snapshots the bridge wrote at the connect scenario's memory samples (the
 *  last two it wrote), then deletes them: they are hundreds of MB at thousands of puppets. */
function heapGrowthOf(env: Env, puppets: number, seq: number | null): HeapGroup[] | null {
  const dir = path.join(env.dir, 'bridge');
  if (seq === null || seq < 2 || puppets === 0) {
    return null;
  }
  const files = [`heap-${seq - 1}.heapsnapshot`, `heap-${seq}.heapsnapshot`];
  try {
    const [before, after] = files.slice(-2).map((f) => readHeapGroups(path.join(dir, f))) as [ReturnType<typeof readHeapGroups>, ReturnType<typeof readHeapGroups>];
    return heapGrowth(before, after, puppets);
  } catch (err) {
    progress(`could not read the heap snapshots: ${(err as Error).message}`);
    return null;
  } finally {
    files.forEach((f) => fs.rmSync(path.join(dir, f), { force: true }));
  }
}

async function memoryAfterGc(env: Env): Promise<MemoryFigures | null> {
  const file = path.join(env.dir, 'bridge', 'memory.json');
  const read = (): { seq: number; memory: NodeJS.MemoryUsage; heap: { total_physical_size: number };
    spaces: Record<string, { size: number }>; } | null => {
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8')) as never;
    } catch {
      return null;
    }
  };
  const prev = read()?.seq ?? 0;
  process.kill(env.bridge.pid, 'SIGUSR2');
  for (let i = 0; i < 100; i++) {
    await sleep(50);
    const r = read();
    if (r && r.seq > prev) {
      const snapshot = path.join(env.dir, 'bridge', `heap-${r.seq}.heapsnapshot`);
      for (let k = 0; env.heapSnapshots && k < 600 && !fs.existsSync(snapshot); k++) {
        await sleep(200); // the bridge is busy writing it: measure nothing meanwhile
      }
      return {
        seq: r.seq,
        rss: r.memory.rss, heapUsed: r.memory.heapUsed, heapTotal: r.memory.heapTotal, external: r.memory.external,
        arrayBuffers: r.memory.arrayBuffers, newSpace: r.spaces.new_space?.size ?? 0, heapPhysical: r.heap.total_physical_size,
      };
    }
  }
  progress('the bridge did not report its memory after SIGUSR2 (bridge-hooks.js not loaded?)');
  return null;
}

/** Samples the bridge as it is, then after a full garbage collection. */
async function sampleMemory(env: Env): Promise<{ raw: ProcSample; gc: MemoryFigures | null }> {
  const raw = sampleProcess(env.bridge.pid);
  const gc = await memoryAfterGc(env);
  return { raw, gc };
}

async function scenarioConnect(env: Env, n: number, batch: number): Promise<ConnectResult> {
  progress(`connect: ${n} Matrix users join, in transactions of ${batch}`);
  // A bridge holds the events of a room until its start's catch-up has read that room (3 s
  // after the start, then the read); joins pushed before would measure that wait, which is
  // the startup scenario's business. Then let the start settle before the "before" sample.
  await sleep(Math.max(0, env.healthyAt + SETTLED_AFTER_START_MS - nowMs()));
  await sleep(1000);
  const mem0 = await sampleMemory(env);
  const before = sampleProcess(env.bridge.pid);
  const ircdBefore = sampleProcess(env.ircd.pid);
  const machineBefore = sampleMachineCpu();
  env.hs.resetCounters();
  const wanted = new Set<string>();
  for (let i = 1; i <= n; i++) {
    if (!env.joinedUsers.has(userId(i))) {
      wanted.add(`bench${i}`);
    }
  }
  const joinTimes: number[] = [];
  const seen = new Set<string>();
  const t0 = nowMs();
  let allJoined: () => void = () => undefined;
  const allJoinedP = new Promise<void>((resolve) => {
    allJoined = resolve;
  });
  const off = env.observer.on((l) => {
    const ident = puppetJoin(l);
    if (ident !== null && wanted.has(ident) && !seen.has(ident)) {
      seen.add(ident);
      joinTimes.push(l.receivedMs - t0);
      if (seen.size >= wanted.size) {
        allJoined();
      }
    }
  });
  let transactions = 0;
  const answerMs: number[] = [];
  try {
    const events: Record<string, unknown>[] = [];
    for (let i = 1; i <= n; i++) {
      if (wanted.has(`bench${i}`)) {
        events.push(memberJoin(env, i));
      }
    }
    for (let i = 0; i < events.length; i += batch) {
      answerMs.push((await env.hs.pushTransaction(events.slice(i, i + batch))).ms);
      transactions++;
    }
    const acceptedAllMs = nowMs() - t0;
    // Bounded: generous enough for puppets that connect one after another (about 1 s each on
    // InspIRCd, whose registration completes on a one-second tick).
    const timeoutMs = 30_000 + n * 1500;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([allJoinedP, new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    })]);
    clearTimeout(timer);
    const windowMs = nowMs() - t0;
    const bridgeAtJoined = sampleProcess(env.bridge.pid);
    const ircdAtJoined = sampleProcess(env.ircd.pid);
    const machineAtJoined = sampleMachineCpu();
    const percent = (a: ProcSample, b: ProcSample): number | null =>
      windowMs > 0 ? round((100 * (b.cpuMs - a.cpuMs)) / windowMs) : null;
    const { connectMeanMs } = await bridgeMetrics(env);
    if (seen.size < wanted.size) {
      progress(`connect: only ${seen.size} of ${wanted.size} puppets joined within ${timeoutMs} ms`);
    }
    off();
    for (const ident of seen) {
      env.joinedUsers.add(`@${ident}:${DOMAIN}`);
    }
    await sleep(2000); // let the connections settle before the "after" sample
    const after = sampleProcess(env.bridge.pid);
    const mem1 = await sampleMemory(env);
    const perPuppet = (a: number | null, b: number | null): number | null =>
      seen.size > 0 && a !== null && b !== null ? round((b - a) / seen.size) : null;
    const perPuppetBytes = (f: (m: MemoryFigures) => number): number | null =>
      mem0.gc && mem1.gc ? perPuppet(f(mem0.gc) / 1024, f(mem1.gc) / 1024) : null;
    joinTimes.sort((a, b) => a - b);
    const all = seen.size >= wanted.size ? (joinTimes[joinTimes.length - 1] ?? null) : null;
    return {
      n: wanted.size,
      batch,
      transactions,
      transactionMs: (({ p50, p90, max }) => ({ p50: round(p50), p90: round(p90), max: round(max) }))(summarize(answerMs)),
      joined: seen.size,
      acceptedAllMs: round(acceptedAllMs) as number,
      firstJoinMs: round(joinTimes[0] ?? null),
      halfJoinedMs: round(joinTimes[Math.ceil(wanted.size / 2) - 1] ?? null),
      allJoinedMs: round(all),
      joinsPerSecond: all ? round((seen.size * 1000) / all) : null,
      medianGapMs: round(summarize(joinTimes.slice(1).map((t, i) => t - (joinTimes[i] as number))).p50),
      joinsEachSecond: perSecond(joinTimes),
      rssBeforeKb: mem0.raw.rssKb,
      rssAfterKb: mem1.raw.rssKb,
      kbPerPuppet: perPuppet(mem0.raw.rssKb, mem1.raw.rssKb),
      afterGc: {
        before: mem0.gc,
        after: mem1.gc,
        rssKbPerPuppet: perPuppetBytes((m) => m.rss),
        rssLessFreeHeapKbPerPuppet: perPuppetBytes((m) => rssLessFreeHeap(m)),
        heapKbPerPuppet: perPuppetBytes((m) => m.heapUsed),
        externalKbPerPuppet: perPuppetBytes((m) => m.external),
      },
      cpuMs: round(after.cpuMs - before.cpuMs) as number,
      cpuMsPerPuppet: round((after.cpuMs - before.cpuMs) / Math.max(1, seen.size), 2) as number,
      joinWindow: { bridgeCpuPercent: percent(before, bridgeAtJoined), ircdCpuPercent: percent(ircdBefore, ircdAtJoined),
        machine: machineCpuShares(machineBefore, machineAtJoined) },
      connectMeanMs,
      heapGrowth: env.heapSnapshots ? heapGrowthOf(env, seen.size, mem1.gc?.seq ?? null) : null,
      homeserverRequests: env.hs.requestCounts(),
    };
  } finally {
    off();
  }
}

// ---- between connect and latency ----

interface SettleResult {
  /** How long the IRC server took, after the connect, to answer the observer's PING promptly. */
  waitedMs: number;
  /** Its PING round trips meanwhile, in order. */
  roundTripsMs: number[];
}

/**
 * After a join storm the IRC server may still be busy with its last wave (relaying the JOINs
 * and NAMES to thousands of members) while the observer already saw every JOIN. The latency
 * runs measure the steady state, so they start once the server answers the observer's PING
 * within SETTLED_RTT_MS three times in a row (at most SETTLE_MAX_MS); the wait is reported.
 */
const SETTLED_RTT_MS = 20;
const SETTLE_MAX_MS = 60_000;

async function settleServer(env: Env): Promise<SettleResult> {
  const t0 = nowMs();
  const roundTripsMs: number[] = [];
  let prompt = 0;
  for (let i = 1; prompt < 3 && nowMs() - t0 < SETTLE_MAX_MS; i++) {
    const sent = nowMs();
    const token = `settle-${i}`;
    const pong = env.observer.waitFor((l) => l.command === 'PONG' && l.params[l.params.length - 1] === token, SETTLE_MAX_MS, 'PONG');
    env.observer.send(`PING ${token}`);
    await pong;
    const rtt = nowMs() - sent;
    roundTripsMs.push(round(rtt) as number);
    prompt = rtt < SETTLED_RTT_MS ? prompt + 1 : 0;
    await sleep(100);
  }
  const waitedMs = round(nowMs() - t0) as number;
  progress(`settle: the IRC server answered PING within ${SETTLED_RTT_MS} ms three times after ${waitedMs} ms`);
  return { waitedMs, roundTripsMs: roundTripsMs.slice(0, 50) };
}

// ---- scenario: latency ----

/** A latency run of one direction: what a throughput step reads (StepFigures), and more. */
interface DirectionResult extends StepFigures {
  /** Latency of each message by sequence number (ms, null when lost). */
  series: Array<number | null>;
  transactions?: number;
  largestTransaction?: number;
  transactionErrors?: number;
  cpuMs: number;
  rssAfterKb: number;
  homeserverRequests: Record<string, number>;
}

/** Runs `fire(i)` count times at `rate` per second (scheduled against the start, so one late tick
 *  does not shift the rest). */
async function paced(count: number, rate: number, fire: (i: number) => void): Promise<number> {
  const interval = 1000 / rate;
  const start = nowMs();
  for (let i = 0; i < count; i++) {
    const wait = start + i * interval - nowMs();
    if (wait > 1) {
      await sleep(wait);
    }
    fire(i);
  }
  return (nowMs() - start) / 1000;
}

/** Waits until `done()` or until `timeoutMs` passed without progress in `progressOf()`. */
async function drain(done: () => boolean, progressOf: () => number, timeoutMs: number): Promise<void> {
  let last = progressOf();
  let lastChange = Date.now();
  for (let i = 0; i < 100_000 && !done(); i++) {
    await sleep(50);
    const p = progressOf();
    if (p !== last) {
      last = p;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > timeoutMs) {
      return;
    }
  }
}

function latencyResult(direction: DirectionResult['direction'], rate: number, count: number, arrivals: Map<number, number>,
  duplicates: number, outOfOrder: number, sendSeconds: number, before: ProcSample, after: ProcSample,
  hs: FakeHomeserver): DirectionResult {
  const s = summarize([...arrivals.values()]);
  const r = (v: number | null): number | null => round(v, 2);
  return {
    direction, rate, sent: count, received: arrivals.size, lost: count - arrivals.size, duplicates, outOfOrder,
    latencyMs: { count: s.count, p50: r(s.p50), p90: r(s.p90), p99: r(s.p99), max: r(s.max), mean: r(s.mean) },
    series: Array.from({ length: count }, (_, i) => r(arrivals.get(i) ?? null)),
    sendSeconds: round(sendSeconds, 2) as number,
    cpuMs: round(after.cpuMs - before.cpuMs) as number,
    cpuMsPerMessage: round((after.cpuMs - before.cpuMs) / count, 3) as number,
    rssAfterKb: after.rssKb,
    homeserverRequests: hs.requestCounts(),
  };
}

async function ensureJoined(env: Env, i: number): Promise<void> {
  if (env.joinedUsers.has(userId(i))) {
    return;
  }
  const joined = env.observer.waitFor((l) => puppetJoin(l) === `bench${i}`, 30_000, `the puppet of ${userId(i)} joining`);
  await env.hs.pushTransaction([memberJoin(env, i)]);
  await joined;
  env.joinedUsers.add(userId(i));
  await sleep(500);
}

/** Each latency run tags its messages (m2i1, m2i2, ...), so that a late message of an earlier run
 *  (a throughput step that did not drain) is not counted in a later one. */
let latencyRuns = 0;

async function matrixToIrc(env: Env, rate: number, count: number, senders = 1): Promise<DirectionResult> {
  progress(`latency Matrix -> IRC: ${count} messages at ${rate}/s from ${senders} sender(s)`);
  const tag = `m2i${++latencyRuns}`;
  const pattern = new RegExp(`^${tag} (\\d+) (\\d+\\.\\d+)$`);
  for (let s = 1; s <= senders; s++) {
    await ensureJoined(env, s);
  }
  const backlogAtStart = await waitBacklogEmpty(env, 30_000);
  // Message i comes from sender (i mod senders) + 1; order is kept per sender (each has its own
  // IRC connection), so reordering is counted per sender.
  const senderOf = (i: number): number => (i % senders) + 1;
  env.hs.resetCounters();
  const arrivals = new Map<number, number>();
  let duplicates = 0;
  let outOfOrder = 0;
  const lastSeq = new Map<number, number>();
  const off = env.observer.on((l) => {
    if (l.command !== 'PRIVMSG' || (l.params[0] ?? '').toLowerCase() !== CHANNEL) {
      return;
    }
    const m = pattern.exec(l.params[1] ?? '');
    if (!m) {
      return;
    }
    const seq = Number(m[1]);
    if (arrivals.has(seq)) {
      duplicates++;
      return;
    }
    const from = senderOf(seq);
    if (seq < (lastSeq.get(from) ?? -1)) {
      outOfOrder++;
    }
    lastSeq.set(from, Math.max(lastSeq.get(from) ?? -1, seq));
    arrivals.set(seq, l.receivedMs - Number(m[2]));
  });
  // Like Synapse: one transaction in flight; events created meanwhile go out together in the next.
  const pending: Record<string, unknown>[] = [];
  let pumping = null as Promise<void> | null;
  let transactions = 0;
  let largest = 0;
  let transactionErrors = 0;
  const pump = async (): Promise<void> => {
    for (let i = 0; i < 1_000_000 && pending.length > 0; i++) {
      const events = pending.splice(0, 100);
      largest = Math.max(largest, events.length);
      transactions++;
      try {
        await env.hs.pushTransaction(events);
      } catch (err) {
        transactionErrors++;
        progress(`latency Matrix -> IRC: ${(err as Error).message}`);
      }
    }
  };
  const before = sampleProcess(env.bridge.pid);
  try {
    const sendSeconds = await paced(count, rate, (i) => {
      pending.push(textMessage(env, userId(senderOf(i)), `${tag} ${i} ${nowMs().toFixed(3)}`));
      if (!pumping) {
        pumping = pump().finally(() => {
          pumping = null;
        });
      }
    });
    for (let i = 0; i < 1000 && pumping; i++) {
      await pumping;
    }
    await drain(() => arrivals.size >= count, () => arrivals.size, 10_000);
    const after = sampleProcess(env.bridge.pid);
    return {
      ...latencyResult('matrix_to_irc', rate, count, arrivals, duplicates, outOfOrder, sendSeconds, before, after, env.hs),
      transactions,
      largestTransaction: largest,
      transactionErrors,
      backlogAtStart,
    };
  } finally {
    off();
  }
}

async function ircToMatrix(env: Env, rate: number, count: number): Promise<DirectionResult> {
  progress(`latency IRC -> Matrix: ${count} messages at ${rate}/s`);
  const tag = `i2m${++latencyRuns}`;
  const pattern = new RegExp(`^${tag} (\\d+) (\\d+\\.\\d+)$`);
  const backlogAtStart = await waitBacklogEmpty(env, 30_000);
  env.hs.resetCounters();
  const arrivals = new Map<number, number>();
  let duplicates = 0;
  let outOfOrder = 0;
  let lastSeq = -1;
  const onSend = (e: SentEvent): void => {
    if (e.roomId !== env.roomId || e.type !== 'm.room.message') {
      return;
    }
    const m = pattern.exec(String(e.content.body ?? ''));
    if (!m) {
      return;
    }
    const seq = Number(m[1]);
    if (arrivals.has(seq)) {
      duplicates++;
      return;
    }
    if (seq < lastSeq) {
      outOfOrder++;
    }
    lastSeq = Math.max(lastSeq, seq);
    arrivals.set(seq, e.receivedMs - Number(m[2]));
  };
  const firstNew = env.hs.sent.length;
  let seenUpTo = firstNew;
  const poll = setInterval(() => {
    for (; seenUpTo < env.hs.sent.length; seenUpTo++) {
      const e = env.hs.sent[seenUpTo];
      if (e) {
        onSend(e);
      }
    }
  }, 5);
  const before = sampleProcess(env.bridge.pid);
  try {
    const sendSeconds = await paced(count, rate, (i) => {
      env.observer.send(`PRIVMSG ${CHANNEL} :${tag} ${i} ${nowMs().toFixed(3)}`);
    });
    await drain(() => arrivals.size >= count, () => arrivals.size, 10_000);
    const after = sampleProcess(env.bridge.pid);
    return {
      ...latencyResult('irc_to_matrix', rate, count, arrivals, duplicates, outOfOrder, sendSeconds, before, after, env.hs),
      backlogAtStart,
    };
  } finally {
    clearInterval(poll);
    // Catch the last ones recorded between the final poll and now.
    for (; seenUpTo < env.hs.sent.length; seenUpTo++) {
      const e = env.hs.sent[seenUpTo];
      if (e) {
        onSend(e);
      }
    }
  }
}

// ---- the report ----

interface Machine extends MachineInfo {
  host: string;
}

function machine(root: string): Machine {
  const tryRun = (cmd: string, args: string[]): string => {
    try {
      return run(cmd, args, root).trim();
    } catch {
      return 'unknown';
    }
  };
  const dirty = tryRun('git', ['status', '--porcelain']);
  return {
    date: new Date().toISOString(),
    host: os.hostname(),
    nproc: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryMb: Math.round(os.totalmem() / 1024 / 1024),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    inspircd: tryRun(process.env.INSPIRCD_BINARY ?? '/usr/sbin/inspircd', ['--version']).split('\n')[0] ?? 'unknown',
    gitCommit: tryRun('git', ['rev-parse', 'HEAD']),
    gitDirtyFiles: dirty === 'unknown' || dirty === '' ? 0 : dirty.split('\n').length,
    libBuiltAt: fs.existsSync(path.join(root, 'lib', 'main.js')) ? fs.statSync(path.join(root, 'lib', 'main.js')).mtime.toISOString() : 'missing',
  };
}

function scanLog(logPath: string, stopIso: string | null): LogFindings {
  const text = logPath !== '' && fs.existsSync(logPath) ? fs.readFileSync(logPath, 'utf8') : '';
  const findings: LogFindings = { warnings: 0, errors: 0, kinds: {}, shutdownKinds: {}, excerpts: [] };
  const firstOfKind = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^(\S+) (WARN|ERROR)\s+\[([^\]]+)\] (.*?)(?: [a-z_]+=|$)/.exec(line);
    if (!m) {
      // Anything else the process printed (a crash trace, say) is worth showing too.
      if (line.trim() !== '' && !/^\S+ (DEBUG|INFO)\s/.test(line) && findings.excerpts.length < 40) {
        findings.excerpts.push(line.slice(0, 400));
      }
      continue;
    }
    const kind = `${m[2] as string} [${m[3] as string}] ${m[4] as string}`;
    if (stopIso !== null && (m[1] as string) >= stopIso) {
      findings.shutdownKinds[kind] = (findings.shutdownKinds[kind] ?? 0) + 1;
      continue;
    }
    if (m[2] === 'WARN') {
      findings.warnings++;
    } else {
      findings.errors++;
    }
    findings.kinds[kind] = (findings.kinds[kind] ?? 0) + 1;
    if (!firstOfKind.has(kind) && findings.excerpts.length < 40) {
      firstOfKind.add(kind);
      findings.excerpts.push(line.slice(0, 400));
    }
  }
  return findings;
}

const fmt = (v: number | null | undefined, unit = ''): string => (v === null || v === undefined ? 'n/a' : `${v}${unit}`);

function reportHeader(m: Machine): string {
  return `# matrix-irc-bridge benchmark, ${m.date}\n\n` +
    `${machineLine(m)}\n\n`;
}

/** One run's sections (one N), headings at level 2. */
function markdown(opts: Options, connect: ConnectResult | null, latency: DirectionResult[], throughput: ThroughputResult | null,
  log: LogFindings, bridgeExit: string | null, profile: ProfileSummary | null, settle: SettleResult | null = null): string {
  const lines: string[] = [];
  if (connect) {
    lines.push(`## connect: ${connect.n} Matrix users join (transactions of ${connect.batch})`);
    lines.push('');
    lines.push('| metric | value |');
    lines.push('| --- | --- |');
    lines.push(`| puppets joined on IRC | ${connect.joined} / ${connect.n} |`);
    lines.push(`| all transactions accepted | ${fmt(connect.acceptedAllMs, ' ms')} (${connect.transactions} transactions; each answered in ${fmt(connect.transactionMs.p50, ' ms')} at the median, ${fmt(connect.transactionMs.p90, ' ms')} at p90, ${fmt(connect.transactionMs.max, ' ms')} at most) |`);
    lines.push(`| first / half / all puppet JOINs seen | ${fmt(connect.firstJoinMs, ' ms')} / ${fmt(connect.halfJoinedMs, ' ms')} / ${fmt(connect.allJoinedMs, ' ms')} |`);
    lines.push(`| puppet JOINs per second | ${fmt(connect.joinsPerSecond)} (median gap between two JOINs ${fmt(connect.medianGapMs, ' ms')}) |`);
    lines.push(`| puppet JOINs seen in each second | ${connect.joinsEachSecond.join(' ')} |`);
    const kb = (b: number | null | undefined): number | null => (b === undefined || b === null ? null : Math.round(b / 1024));
    const g = connect.afterGc;
    lines.push(`| bridge RSS before / after | ${connect.rssBeforeKb} KB / ${connect.rssAfterKb} KB |`);
    lines.push(`| RSS per puppet ((after - before) / N) | ${fmt(connect.kbPerPuppet, ' KB')} |`);
    lines.push(`| after a full GC: RSS less the heap's free space, before / after | ${fmt(kb(g.before && rssLessFreeHeap(g.before)), ' KB')} / ${fmt(kb(g.after && rssLessFreeHeap(g.after)), ' KB')}: ${fmt(g.rssLessFreeHeapKbPerPuppet, ' KB')} per puppet |`);
    lines.push(`| JS heap used after a full GC, before / after | ${fmt(kb(g.before?.heapUsed), ' KB')} / ${fmt(kb(g.after?.heapUsed), ' KB')}: ${fmt(g.heapKbPerPuppet, ' KB')} per puppet |`);
    lines.push(`| external memory (buffers) after a full GC | ${fmt(kb(g.before?.external), ' KB')} / ${fmt(kb(g.after?.external), ' KB')}: ${fmt(g.externalKbPerPuppet, ' KB')} per puppet |`);
    lines.push(`| bridge CPU time (user+sys) | ${connect.cpuMs} ms (${connect.cpuMsPerPuppet} ms per puppet) |`);
    lines.push(`| mean time from opening a puppet connection to its registration | ${fmt(connect.connectMeanMs, ' ms')} |`);
    lines.push(`| CPU use while puppets joined (100 % = one core) | bridge ${connect.joinWindow.bridgeCpuPercent ?? '-'} %, InspIRCd ${connect.joinWindow.ircdCpuPercent ?? '-'} % |`);
    const mc = connect.joinWindow.machine;
    if (mc) {
      lines.push(`| the machine meanwhile (100 % = all CPUs) | user ${mc.user} %, system ${mc.system} %, softirq ${mc.softirq} %, idle ${mc.idle} % |`);
    }
    lines.push('');
    lines.push('RSS as found moves by tens of MB when V8 grows or shrinks its heap; the figures after a full GC ' +
      '(RSS less the free space V8 keeps, and the live JS heap) are the steadier measure of what a puppet costs.');
    lines.push('');
    if (connect.heapGrowth) {
      lines.push('JS heap growth by kind of object (heap snapshots before and after, self size per puppet):');
      lines.push('');
      lines.push('| object | bytes per puppet | objects per puppet |');
      lines.push('| --- | --- | --- |');
      for (const g of connect.heapGrowth) {
        lines.push(`| \`${g.name.replace(/[|`]/g, ' ')}\` | ${g.bytesPerPuppet} | ${g.countPerPuppet} |`);
      }
      lines.push('');
    }
  }
  if (latency.length > 0) {
    lines.push(`## latency (${latency[0]?.sent ?? 0} messages per direction; Matrix -> IRC from ${opts.senders} sender${opts.senders === 1 ? '' : 's'})`);
    lines.push('');
    lines.push('| direction | rate msg/s | sent | received | lost | p50 ms | p90 ms | p99 ms | max ms | bridge CPU ms/msg |');
    lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const d of latency) {
      const l = d.latencyMs;
      lines.push(`| ${d.direction === 'matrix_to_irc' ? 'Matrix -> IRC' : 'IRC -> Matrix'} | ${d.rate} | ${d.sent} | ${d.received} | ` +
        `${d.lost} | ${fmt(l.p50)} | ${fmt(l.p90)} | ${fmt(l.p99)} | ${fmt(l.max)} | ${d.cpuMsPerMessage} |`);
    }
    if (settle) {
      lines.push('');
      lines.push(`Before these runs the benchmark waited ${settle.waitedMs} ms after the connect until the IRC server answered ` +
        `the observer's PING within ${SETTLED_RTT_MS} ms three times in a row (round trips: ${settle.roundTripsMs.join(', ')} ms).`);
    }
    const notes = latency.filter((d) => d.duplicates > 0 || d.outOfOrder > 0)
      .map((d) => `${d.direction}: ${d.duplicates} duplicates, ${d.outOfOrder} out of order`);
    for (const d of latency) {
      if (d.backlogAtStart) {
        notes.push(`${d.direction}: started with ${d.backlogAtStart} Matrix events still unhandled by the bridge`);
      }
    }
    if (notes.length > 0) {
      lines.push('');
      lines.push(`Notes: ${notes.join('; ')}.`);
    }
    lines.push('');
  }
  if (throughput) {
    lines.push(throughputMarkdown(throughput));
  }
  lines.push(...bridgeLogLines(log, opts.logLevel, bridgeExit, '; the bridge was still running at the end'));
  lines.push(...profileLines(profile));
  return lines.join('\n') + '\n';
}

/** One N's results. */
interface RunResult {
  n: number;
  floor: FloorResult | null;
  connect: ConnectResult | null;
  settle: SettleResult | null;
  latency: DirectionResult[];
  throughput: ThroughputResult | null;
  bridgeLog: LogFindings;
  bridgeExit: string | null;
  profile: ProfileSummary | null;
  error: string | null;
  timeline: Timeline['points'];
}

/** Markdown headings one level deeper (outside code blocks). */
function demote(md: string): string {
  let fenced = false;
  return md.split('\n').map((l) => {
    if (l.startsWith('```')) {
      fenced = !fenced;
    }
    return !fenced && /^#+ /.test(l) ? `#${l}` : l;
  }).join('\n');
}

const pick = (run: RunResult, d: DirectionResult['direction']): DirectionResult | undefined =>
  run.latency.find((l) => l.direction === d);

/** The sweep's table: one row per N. */
function sweepMarkdown(runs: RunResult[], opts: Options): string {
  const lines: string[] = [];
  const secs = (ms: number | null | undefined): string => (ms === null || ms === undefined ? 'n/a' : `${round(ms / 1000, 2)}`);
  const lat = (d: DirectionResult | undefined): string =>
    (d ? `${fmt(d.latencyMs.p50)} / ${fmt(d.latencyMs.p90)} / ${fmt(d.latencyMs.p99)} / ${fmt(d.latencyMs.max)} | ${d.lost}` : 'n/a | n/a');
  lines.push(`## sweep: N = ${runs.map((r) => r.n).join(', ')}`);
  lines.push('');
  lines.push(`Each N ran with a fresh InspIRCd and bridge; latency at ${opts.rate} msg/s, ${opts.count} messages per direction. ` +
    'Memory and CPU are per puppet; "after GC" figures follow a forced full GC (RSS less free heap: RSS - heap resident + heap used).');
  lines.push('');
  lines.push('| N | joined | all JOINs seen s | JOINs/s | RSS KB/puppet | after GC: RSS KB/puppet | after GC: RSS less free heap KB/puppet | ' +
    'after GC: live heap KB/puppet | CPU ms/puppet | M->I p50 / p90 / p99 / max ms | M->I lost | I->M p50 / p90 / p99 / max ms | I->M lost |');
  lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of runs) {
    const c = r.connect;
    lines.push(`| ${r.n} | ${c ? `${c.joined} / ${c.n}` : 'n/a'} | ${secs(c?.allJoinedMs)} | ${fmt(c?.joinsPerSecond)} | ${fmt(c?.kbPerPuppet)} | ` +
      `${fmt(c?.afterGc.rssKbPerPuppet)} | ${fmt(c?.afterGc.rssLessFreeHeapKbPerPuppet)} | ${fmt(c?.afterGc.heapKbPerPuppet)} | ` +
      `${fmt(c?.cpuMsPerPuppet)} | ${lat(pick(r, 'matrix_to_irc'))} | ${lat(pick(r, 'irc_to_matrix'))} |`);
  }
  if (runs.some((r) => r.throughput)) {
    lines.push('');
    lines.push('| N | Matrix -> IRC highest passing msg/s | IRC -> Matrix highest passing msg/s |');
    lines.push('| --- | --- | --- |');
    for (const r of runs) {
      const best = (d: DirectionResult['direction']): string => {
        const t = r.throughput?.directions.find((x) => x.direction === d);
        return t ? (t.highestPassingRate === null ? 'none' : String(t.highestPassingRate)) : 'n/a';
      };
      lines.push(`| ${r.n} | ${best('matrix_to_irc')} | ${best('irc_to_matrix')} |`);
    }
  }
  const trouble = runs.filter((r) => r.error || r.bridgeExit || r.bridgeLog.errors > 0)
    .map((r) => `N = ${r.n}: ${r.error ? `FAILED (${r.error.split('\n')[0] ?? ''})` : ''}${r.bridgeExit ? ` bridge exited (${r.bridgeExit})` : ''}` +
      `${r.bridgeLog.errors > 0 ? ` ${r.bridgeLog.errors} errors in the bridge log` : ''}`);
  if (trouble.length > 0) {
    lines.push('');
    lines.push(`Problems: ${trouble.join('; ')}.`);
  }
  lines.push('');
  if (runs.length > 1) {
    lines.push('![memory per puppet and latency against N](chart.svg)');
    lines.push('');
  }
  return lines.join('\n') + '\n';
}

/** The chart's figures for one N. */
function sweepPoint(r: RunResult): SweepPoint {
  const m2i = pick(r, 'matrix_to_irc')?.latencyMs;
  const i2m = pick(r, 'irc_to_matrix')?.latencyMs;
  return {
    n: r.n,
    rssKbPerPuppet: r.connect?.kbPerPuppet ?? null,
    rssLessFreeHeapKbPerPuppet: r.connect?.afterGc.rssLessFreeHeapKbPerPuppet ?? null,
    heapKbPerPuppet: r.connect?.afterGc.heapKbPerPuppet ?? null,
    m2iP50: m2i?.p50 ?? null,
    m2iP99: m2i?.p99 ?? null,
    i2mP50: i2m?.p50 ?? null,
    i2mP99: i2m?.p99 ?? null,
  };
}

// ---- main ----

/** The run in progress, for the signal handler to stop. */
interface Current {
  started: Started;
  /** The run's temp dir, until it is removed or kept. */
  dir: string | null;
  /** Set by the signal handler, which stops the environment itself. */
  stopping: boolean;
}

/** Runs the selected scenarios for one N in a fresh environment; its files go to runDir. */
/** Ends a run that was only the `floor` scenario before the bridge starts. */
class FloorOnly extends Error {}

async function runOnce(opts: Options, runDir: string, current: Current): Promise<RunResult & { failed: boolean }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mib-bench-'));
  const started: Started = {};
  current.started = started;
  current.dir = dir;
  let settle: SettleResult | null = null;
  let floor: FloorResult | null = null;
  let connect: ConnectResult | null = null;
  const latency: DirectionResult[] = [];
  let throughput: ThroughputResult | null = null;
  let bridgeLog = path.join(dir, 'bridge', 'bridge.log');
  let bridgeExit: string | null = null;
  let error: string | null = null;
  let stopIso: string | null = null;
  let timeline: Timeline | null = null;
  try {
    if (opts.scenarios.includes('floor')) {
      // Before the bridge exists, on a server of its own: nothing else uses the CPUs.
      floor = await scenarioFloor(dir, opts.n, opts.concurrency, 30_000 + opts.n * 100, progress);
      if (opts.scenarios.length === 1) {
        throw new FloorOnly();
      }
    }
    const env = await startEnv(dir, opts, started, runDir);
    bridgeLog = env.bridgeLog;
    timeline = env.timeline;
    // throughput is measured with the N puppets in the channel, so it needs connect.
    if (opts.scenarios.includes('connect') || opts.scenarios.includes('throughput')) {
      env.timeline.phase = 'connect';
      connect = await scenarioConnect(env, opts.n, opts.batch);
    }
    if (opts.scenarios.includes('latency')) {
      if (connect) {
        env.timeline.phase = 'settle';
        settle = await settleServer(env);
      }
      env.timeline.phase = 'matrix_to_irc';
      latency.push(await matrixToIrc(env, opts.rate, opts.count, opts.senders));
      await sleep(1000);
      env.timeline.phase = 'irc_to_matrix';
      latency.push(await ircToMatrix(env, opts.rate, opts.count));
    }
    if (opts.scenarios.includes('throughput')) {
      await sleep(1000);
      throughput = await scenarioThroughput({
        runStep: (direction, rate, count) =>
          (direction === 'matrix_to_irc' ? matrixToIrc(env, rate, count, opts.senders) : ircToMatrix(env, rate, count)),
        sleep,
        progress,
        onStep: (direction, rate) => {
          env.timeline.phase = `throughput_${direction}_${rate}`;
        },
      }, { puppets: env.joinedUsers.size, rates: opts.rates, stepSeconds: opts.stepSeconds });
    }
    env.timeline.phase = 'done';
    if (env.hs.unknown.length > 0) {
      progress(`the fake homeserver did not recognise: ${[...new Set(env.hs.unknown)].join(', ')}`);
    }
    if (!env.bridge.isRunning()) {
      bridgeExit = String(await env.bridge.exited);
    }
  } catch (err) {
    if (err instanceof FloorOnly) {
      // nothing else was asked for
    } else {
      error = (err as Error).message;
      progress(`FAILED: ${error}`);
    }
    if (started.bridge && !started.bridge.isRunning()) {
      bridgeExit = String(await started.bridge.exited);
    }
  } finally {
    stopIso = new Date().toISOString();
    timeline?.stop();
    if (!current.stopping) {
      await stopEnv(started);
    }
  }

  const log = scanLog(bridgeLog, stopIso);
  let profile: ProfileSummary | null = null;
  const profFile = fs.readdirSync(runDir).find((f) => f.endsWith('.cpuprofile'));
  if (profFile) {
    try {
      profile = summarizeProfile(path.join(runDir, profFile));
    } catch (err) {
      progress(`could not read the CPU profile: ${(err as Error).message}`);
    }
  }
  if (bridgeLog && fs.existsSync(bridgeLog) && fs.statSync(bridgeLog).size < 20 * 1024 * 1024) {
    fs.copyFileSync(bridgeLog, path.join(runDir, 'bridge.log'));
  }
  current.dir = null;
  if (error !== null || opts.keep) {
    progress(`kept ${dir} for inspection`);
  } else {
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  }
  return {
    n: opts.n, floor, connect, settle, latency, throughput, bridgeLog: log, bridgeExit, profile, error,
    timeline: timeline?.points ?? [], failed: error !== null,
  };
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  const root = repoRoot();
  const m = machine(root);
  if (opts.scenarios.includes('startup')) {
    return runStartupBench({ users: opts.users, rooms: opts.rooms, watchSeconds: opts.watch, concurrency: opts.concurrency,
      deaf: opts.deaf, logLevel: opts.logLevel, profile: opts.profile, keep: opts.keep, outDir: opts.outDir, hsDelayMs: opts.hsDelay },
    { machine: m, scanLog, out, progress });
  }
  const resultsDir = path.join(opts.outDir, m.date.replace(/[:.]/g, '-'));
  fs.mkdirSync(resultsDir, { recursive: true });
  const sweep = opts.ns.length > 1;
  const current: Current = { started: {}, dir: null, stopping: false };
  const onSignal = (signal: string): void => {
    if (current.stopping) {
      return;
    }
    current.stopping = true;
    progress(`${signal}: stopping`);
    void stopEnv(current.started).finally(() => {
      if (!opts.keep && current.dir) {
        fs.rmSync(current.dir, { recursive: true, force: true, maxRetries: 3 });
      }
      process.exit(130);
    });
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  const watchdogMs = WATCHDOG_MS * opts.ns.length;
  const watchdog = setTimeout(() => onSignal(`watchdog (${watchdogMs / 60_000} min)`), watchdogMs);
  watchdog.unref();

  // One fresh environment per N; a sweep keeps each N's bridge log and profile in n<N>/.
  const runs: RunResult[] = [];
  let failed = false;
  for (const n of opts.ns) {
    const runDir = sweep ? path.join(resultsDir, `n${n}`) : resultsDir;
    fs.mkdirSync(runDir, { recursive: true });
    if (sweep) {
      progress(`---- N = ${n} (${runs.length + 1} of ${opts.ns.length}) ----`);
    }
    const { failed: runFailed, ...run } = await runOnce({ ...opts, n }, runDir, current);
    failed ||= runFailed;
    runs.push(run);
  }
  clearTimeout(watchdog);

  const runMd = (r: RunResult): string =>
    (r.floor ? floorMarkdown(r.floor).join('\n') + '\n' : '') +
    (opts.scenarios.some((sc) => sc !== 'floor')
      ? markdown({ ...opts, n: r.n }, r.connect, r.latency, r.throughput, r.bridgeLog, r.bridgeExit, r.profile, r.settle) : '') +
    (r.error ? `\n## run failed\n\n\`\`\`\n${r.error}\n\`\`\`\n` : '');
  let md: string;
  if (sweep) {
    md = reportHeader(m) + sweepMarkdown(runs, opts) +
      runs.map((r) => `## N = ${r.n}\n\n${demote(runMd(r))}`).join('\n');
    fs.writeFileSync(path.join(resultsDir, 'results.json'), JSON.stringify({ machine: m, options: opts, runs }, null, 2) + '\n');
    fs.writeFileSync(path.join(resultsDir, 'chart.svg'), sweepChart([...runs].sort((a, b) => a.n - b.n).map(sweepPoint),
      `matrix-irc-bridge benchmark, ${m.date.slice(0, 16).replace('T', ' ')} UTC, commit ${m.gitCommit.slice(0, 12)}`));
  } else {
    const r = runs[0] as RunResult;
    md = reportHeader(m) + runMd(r);
    fs.writeFileSync(path.join(resultsDir, 'results.json'), JSON.stringify({
      machine: m, options: opts, connect: r.connect, latency: r.latency, throughput: r.throughput, bridgeLog: r.bridgeLog,
      bridgeExit: r.bridgeExit, profile: r.profile, error: r.error, timeline: r.timeline,
    }, null, 2) + '\n');
  }
  fs.writeFileSync(path.join(resultsDir, 'results.md'), md);
  out(md);
  out(`results: ${path.relative(process.cwd(), resultsDir) || resultsDir}`);
  return failed ? 1 : 0;
}

main().then((code) => {
  process.exitCode = code;
}, (err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
