import * as fs from 'node:fs';
import * as path from 'node:path';
import { IrcTestClient } from './irc-client';
import { freePort, portAccepts } from './ports';
import { PollAbort, pollUntil, spawnLogged, tailFile, type ManagedProcess } from './proc';

export const INSPIRCD_BINARY = process.env.INSPIRCD_BINARY ?? '/usr/sbin/inspircd';

/**
 * Modules loaded besides the core. Names are the file names in the package's module
 * directory (/usr/lib/inspircd/modules/m_NAME.so) without "m_" and ".so". The IRCv3
 * ones give CAP LS 302 message-tags, echo-message, labeled-response, batch,
 * server-time, account-tag, extended-join, chghost, setname and client-only tags.
 */
export const INSPIRCD_MODULES = [
  'cap',
  'ircv3',
  'ircv3_accounttag',
  'ircv3_batch',
  'ircv3_capnotify',
  'ircv3_chghost',
  'ircv3_ctctags',
  'ircv3_echomessage',
  'ircv3_invitenotify',
  'ircv3_labeledresponse',
  'ircv3_msgid',
  'ircv3_servertime',
  'setname',
  'namesx',
  'uhnames',
  'botmode',
  'monitor',
  'deaf',
];

export interface InspircdStartOptions {
  /**
   * After the port accepts, also wait until a probe client completes registration
   * (default true). Without it start() returns as soon as the port accepts, so a test
   * client can be the first to connect to a freshly restarted server.
   */
  probe?: boolean;
}

export interface InspircdHandle {
  port: number;
  serverName: string;
  /** The PID of the current (or last) InspIRCd process. */
  readonly pid: number;
  logPath: string;
  configPath: string;
  isRunning(): boolean;
  /** SIGTERM, bounded wait, then SIGKILL. */
  stop(): Promise<void>;
  /** Starts InspIRCd again with the same config on the same port (it must be stopped). */
  start(opts?: InspircdStartOptions): Promise<void>;
  /** stop() then start(). */
  restart(opts?: InspircdStartOptions): Promise<void>;
  tail(lines?: number): string;
}

export interface InspircdOptions {
  port?: number;
  /** 'ascii' (default) or 'rfc1459' to test nick/channel folding. */
  casemapping?: 'ascii' | 'rfc1459';
  /** Extra raw config text appended at the end (e.g. links for services). */
  extraConfig?: string;
  extraModules?: string[];
  /** The server's name (default irc.e2e.test); a second, linked server needs another. */
  serverName?: string;
  /**
   * 'raised' (default): flood limits far above anything the bridge sends, so tests measure the
   * bridge and not the server's pacing. 'stock': the flood settings of the packaged
   * inspircd.conf (threshold 10, 8 KiB recvq and soft sendq, commandrate and fakelag at
   * InspIRCd's defaults), with only the per-address connection limits raised.
   */
  floodLimits?: 'raised' | 'stock';
  /** Ask every client's host for its ident (RFC 1413, port 113) at connect (default false). */
  ident?: boolean;
  /** Connections allowed from loopback, and members per channel (default 5000; the benchmark
   *  raises it for 10,000 puppets, within the process's open-file limit). */
  maxConnections?: number;
}

const LIMIT = 5000;

const raisedConnect = (limit: number): string => `<connect name="loopback" allow="127.0.0.1"
         maxchans="${limit}" timeout="30" pingfreq="120"
         hardsendq="16M" softsendq="1M" recvq="1M"
         threshold="${limit * 10}" commandrate="${limit * 1000}" fakelag="no"`;
// As in the inspircd.conf the Debian package installs; commandrate and fakelag are not set
// there, so InspIRCd's defaults apply (1 command a second once the threshold is spent, and
// lag rather than a kill until the recvq overflows).
const STOCK_CONNECT = `<connect name="loopback" allow="127.0.0.1"
         timeout="60" pingfreq="120"
         hardsendq="262144" softsendq="8192" recvq="8192" threshold="10"`;

/** An IRC operator of the test server (loopback only), for K-lines and kills in tests. */
export const E2E_OPER = { name: 'e2eoper', password: 'e2e-oper-pass' };

export function inspircdConfig(dir: string, port: number, opts: InspircdOptions = {}): string {
  const modules = [...INSPIRCD_MODULES, ...(opts.ident ? ['ident'] : []), ...(opts.extraModules ?? [])];
  const limit = opts.maxConnections ?? LIMIT;
  return `# Written by the matrix-irc-bridge e2e harness. Loopback only.
<server name="${opts.serverName ?? 'irc.e2e.test'}" description="matrix-irc-bridge e2e" network="E2ENet">
<admin name="e2e" nick="e2e" email="e2e@localhost">
<bind address="127.0.0.1" port="${port}" type="clients">
${opts.floodLimits === 'stock' ? STOCK_CONNECT : raisedConnect(limit)}
         localmax="${limit}" globalmax="${limit}" limit="${limit}"
         resolvehostnames="no" useident="${opts.ident ? 'yes' : 'no'}">
${opts.ident ? '<ident timeout="3">' : ''}
<channels users="${limit}" opers="${limit}">
<limits maxnick="30" maxchan="64" maxmodes="20" maxident="10" maxhost="64"
        maxquit="300" maxtopic="390" maxkick="300" maxreal="130" maxaway="200">
<files motd="${path.join(dir, 'inspircd.motd')}">
<pid file="${path.join(dir, 'inspircd.pid')}">
<dns timeout="1">
<options casemapping="${opts.casemapping ?? 'ascii'}" prefixquit="Quit: " syntaxhints="no"
         announcets="yes" hostintopic="yes" pingwarning="15" splitwhois="no" exemptchanops="">
<security hideserver="" userstats="Pu" customversion="" flatlinks="no" hidesplits="no"
          hideulines="no" hidebans="no" maxtargets="20">
<performance nouserdns="yes" quietbursts="yes" softlimit="${limit * 2}" somaxconn="1024" netbuffersize="65536">
<whowas groupsize="10" maxgroups="10000" maxkeep="1h">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="${path.join(dir, 'inspircd.log')}">
${modules.map((m) => `<module name="${m}">`).join('\n')}
<class name="BanControl" commands="KILL KLINE GLINE ZLINE" usermodes="*" chanmodes="*">
<type name="TestOper" classes="BanControl" vhost="oper.e2e.test">
<oper name="${E2E_OPER.name}" password="${E2E_OPER.password}" host="*@127.0.0.1" type="TestOper">
${opts.extraConfig ?? ''}
`;
}

/**
 * Starts InspIRCd with its own config in dir and waits (bounded) until a test client
 * completes registration on it.
 */
export async function startInspircd(dir: string, opts: InspircdOptions = {}): Promise<InspircdHandle> {
  if (!fs.existsSync(INSPIRCD_BINARY)) {
    throw new Error(`${INSPIRCD_BINARY} not found: install the Debian package inspircd (scripts/install-deps.sh)`);
  }
  fs.mkdirSync(dir, { recursive: true });
  const port = opts.port ?? (await freePort());
  const configPath = path.join(dir, 'inspircd.conf');
  fs.writeFileSync(path.join(dir, 'inspircd.motd'), 'matrix-irc-bridge e2e test server\n');
  fs.writeFileSync(configPath, inspircdConfig(dir, port, opts));
  const logPath = path.join(dir, 'inspircd.out');

  const launch = async (startOpts: InspircdStartOptions = {}): Promise<ManagedProcess> => {
    const started: ManagedProcess = spawnLogged({
      name: 'inspircd',
      command: INSPIRCD_BINARY,
      args: ['--config', configPath, '--nofork', '--runasroot'],
      logPath,
      cwd: dir,
    });
    const fail = async (reason: string): Promise<never> => {
      await started.stop(3000);
      const fileLog = path.join(dir, 'inspircd.log');
      throw new Error(
        `InspIRCd did not start (${reason}).\n--- ${logPath}\n${started.tail(40)}\n--- ${fileLog}\n` +
          (fs.existsSync(fileLog) ? fs.readFileSync(fileLog, 'utf8').split('\n').slice(-40).join('\n') : '(none)'),
      );
    };
    try {
      await pollUntil(
        `InspIRCd on 127.0.0.1:${port}`,
        async () => {
          if (!started.isRunning()) throw new PollAbort(`InspIRCd exited (${String(await started.exited)})`);
          return (await portAccepts(port, 500)) ? true : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 50 },
      );
      if (startOpts.probe ?? true) {
        const probe = await IrcTestClient.connect({ port, nick: `probe${process.pid % 10000}`, timeoutMs: 10_000 });
        await probe.quit('ready check');
      }
    } catch (err) {
      return fail((err as Error).message);
    }
    return started;
  };

  return ircdHandle({ name: 'InspIRCd', port, serverName: opts.serverName ?? 'irc.e2e.test', logPath, configPath,
    launch, first: await launch() });
}

/**
 * The handle of a test IRC server process: `launch` starts it and resolves once it serves
 * (`first` is the process it already started). Stop and restart it by PID.
 */
export function ircdHandle(o: {
  name: string; port: number; serverName: string; logPath: string; configPath: string;
  launch: (startOpts?: InspircdStartOptions) => Promise<ManagedProcess>; first: ManagedProcess;
}): InspircdHandle {
  let proc: ManagedProcess = o.first;
  const stop = async (): Promise<void> => {
    await proc.stop(5000);
  };
  const start = async (startOpts?: InspircdStartOptions): Promise<void> => {
    if (proc.isRunning()) throw new Error(`${o.name} is already running`);
    proc = await o.launch(startOpts);
  };
  return {
    port: o.port,
    serverName: o.serverName,
    get pid(): number {
      return proc.pid;
    },
    logPath: o.logPath,
    configPath: o.configPath,
    isRunning: () => proc.isRunning(),
    stop,
    start,
    restart: async (startOpts) => {
      await stop();
      await start(startOpts);
    },
    tail: (lines) => tailFile(o.logPath, lines),
  };
}
