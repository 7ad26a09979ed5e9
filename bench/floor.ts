/**
 * The `floor` scenario: what the IRC server itself needs to take N clients into one channel,
 * without the bridge. N minimal raw clients (in the benchmark process) do what a puppet does on
 * the wire (CAP LS, NICK, USER, CAP END, then MODE +d and JOIN), at most `concurrency`
 * registering at once, against a fresh InspIRCd. Each takes the nick and username the bridge
 * gives the benchmark's user i (`BenchUser<i>[m]`, `bench<i>`): the server's lines carry them
 * to every member, so shorter ones would make the server's work, and the floor, smaller. They
 * read every line they get (the JOINs of the clients after them: N*N/2 lines in all) but do
 * nothing with it. The time until all have joined is the floor under the bridge's `connect`
 * figure on the same machine and server.
 */
import * as net from 'node:net';
import * as path from 'node:path';
import { startInspircd } from '../spec/e2e/harness/inspircd';
import { nowMs } from './fake-homeserver';
import { machineCpuShares, perSecond, round, sampleMachineCpu, sampleProcess } from './stats';

export interface FloorResult {
  n: number;
  concurrency: number;
  joined: number;
  allJoinedMs: number | null;
  joinsPerSecond: number | null;
  /** JOINs seen in each second from the start (how the server spreads its work). */
  joinsEachSecond: number[];
  /** Mean time from opening a connection to 001. */
  meanRegistrationMs: number | null;
  /** CPU time over the run: InspIRCd's, and the benchmark process's (the N clients). */
  ircdCpuMs: number;
  clientsCpuMs: number;
  machine: { user: number; system: number; softirq: number; idle: number } | null;
}

const CHANNEL = '#bench';

export async function scenarioFloor(dir: string, n: number, concurrency: number, timeoutMs: number,
  progress: (line: string) => void): Promise<FloorResult> {
  progress(`floor: ${n} raw clients join ${CHANNEL} (${concurrency} registering at once), no bridge`);
  const ircd = await startInspircd(path.join(dir, 'inspircd-floor'), { maxConnections: Math.max(5000, n + 100) });
  const sockets: net.Socket[] = [];
  try {
    const ircd0 = sampleProcess(ircd.pid);
    const self0 = process.cpuUsage();
    const machine0 = sampleMachineCpu();
    const t0 = nowMs();
    let started = 0;
    let joined = 0;
    let registrationSum = 0;
    let registered = 0;
    const joinTimes: number[] = [];
    const result = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      const next = (): void => {
        if (started >= n) {
          return;
        }
        const i = ++started;
        const opened = nowMs();
        const nick = `BenchUser${i}[m]`;
        let rest = '';
        let isRegistered = false;
        let isJoined = false;
        const s = net.connect(ircd.port, '127.0.0.1', () => {
          s.write(`CAP LS 302\r\nNICK ${nick}\r\nUSER bench${i} 0 * :floor client\r\n`);
        });
        sockets.push(s);
        s.on('error', () => undefined);
        s.on('data', (chunk: Buffer) => {
          const lines = (rest + chunk.toString('latin1')).split('\n');
          rest = lines.pop() ?? '';
          for (const line of lines) {
            if (line.startsWith('PING ')) {
              s.write(`PONG ${line.slice(5)}\n`);
            } else if (!isRegistered && / CAP \S+ LS/.test(line)) {
              s.write('CAP END\r\n');
            } else if (!isRegistered && / 001 /.test(line)) {
              isRegistered = true;
              registered++;
              registrationSum += nowMs() - opened;
              s.write(`MODE ${nick} +d\r\nJOIN ${CHANNEL}\r\n`);
            } else if (isRegistered && !isJoined && line.startsWith(`:${nick}!`) && line.includes(' JOIN ')) {
              isJoined = true;
              joined++;
              joinTimes.push(nowMs() - t0);
              next();
              if (joined >= n) {
                clearTimeout(timer);
                resolve(nowMs() - t0);
              }
            }
          }
        });
      };
      for (let k = 0; k < concurrency; k++) {
        next();
      }
    });
    const self1 = process.cpuUsage(self0);
    return {
      n,
      concurrency,
      joined,
      allJoinedMs: round(result),
      joinsPerSecond: result ? round((joined * 1000) / result) : null,
      joinsEachSecond: perSecond(joinTimes),
      meanRegistrationMs: registered > 0 ? round(registrationSum / registered) : null,
      ircdCpuMs: round(sampleProcess(ircd.pid).cpuMs - ircd0.cpuMs) as number,
      clientsCpuMs: round((self1.user + self1.system) / 1000) as number,
      machine: machineCpuShares(machine0, sampleMachineCpu()),
    };
  } finally {
    sockets.forEach((s) => s.destroy());
    await ircd.stop();
  }
}

export function floorMarkdown(f: FloorResult): string[] {
  const mc = f.machine;
  return [
    `## floor: ${f.n} raw clients join one channel, no bridge (${f.concurrency} registering at once)`,
    '',
    '| metric | value |',
    '| --- | --- |',
    `| clients joined | ${f.joined} / ${f.n} |`,
    `| all joined | ${f.allJoinedMs ?? 'not within the time limit'}${f.allJoinedMs !== null ? ' ms' : ''} |`,
    `| JOINs per second | ${f.joinsPerSecond ?? 'n/a'} |`,
    `| JOINs seen in each second | ${f.joinsEachSecond.join(' ')} |`,
    `| mean time from opening a connection to 001 | ${f.meanRegistrationMs ?? 'n/a'} ms |`,
    `| CPU time: InspIRCd / the raw clients | ${f.ircdCpuMs} ms / ${f.clientsCpuMs} ms |`,
    ...(mc ? [`| the machine meanwhile (100 % = all CPUs) | user ${mc.user} %, system ${mc.system} %, softirq ${mc.softirq} %, idle ${mc.idle} % |`] : []),
    '',
    'What the server needs for the same joins without the bridge: the floor under `connect`.',
    '',
  ];
}
