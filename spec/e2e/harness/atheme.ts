/**
 * Atheme IRC services linked to the test InspIRCd, for real NickServ and SASL. The config is
 * the package's example (/usr/share/doc/atheme-services/examples/atheme.conf.example) with the
 * InspIRCd protocol module, our server name and one uplink; InspIRCd gets a server port, the
 * link block and the modules services need (see `inspircdLinkOptions`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { InspircdOptions } from './inspircd';
import { IrcTestClient } from './irc-client';
import { freePort } from './ports';
import { PollAbort, pollUntil, spawnLogged, tailFile, type ManagedProcess } from './proc';

export const ATHEME_BINARY = process.env.ATHEME_BINARY ?? '/usr/bin/atheme-services';
export const ATHEME_EXAMPLE = '/usr/share/doc/atheme-services/examples/atheme.conf.example';
export const SERVICES_NAME = 'services.test';

export interface ServicesLink {
  /** The InspIRCd port (type="servers") Atheme links to. */
  linkPort: number;
  password: string;
  /** The InspIRCd server's name (its <server name>). */
  uplinkName: string;
}

/** A link for a new services pair: a free port and a password. */
export async function newServicesLink(uplinkName = 'irc.e2e.test'): Promise<ServicesLink> {
  return { linkPort: await freePort(), password: `link${process.pid}${Date.now() % 100000}`, uplinkName };
}

/**
 * What InspIRCd needs to accept Atheme: spanningtree and services_account always; with `sasl`
 * true also the sasl module and its target (InspIRCd exits at start when the sasl module has no
 * <sasl target>). Without `sasl` the server offers no SASL at all, but NickServ still works.
 */
export function inspircdLinkOptions(link: ServicesLink, opts: { sasl: boolean }): Pick<InspircdOptions, 'extraModules' | 'extraConfig' | 'serverName'> {
  return {
    serverName: link.uplinkName,
    extraModules: ['spanningtree', 'services_account', ...(opts.sasl ? ['sasl'] : [])],
    extraConfig: `<bind address="127.0.0.1" port="${link.linkPort}" type="servers">
<link name="${SERVICES_NAME}" ipaddr="127.0.0.1" port="${link.linkPort}" allowmask="127.0.0.1"
      sendpass="${link.password}" recvpass="${link.password}" timeout="30">
<uline server="${SERVICES_NAME}" silent="yes">
${opts.sasl ? `<sasl target="${SERVICES_NAME}" requiressl="no">` : ''}
`,
  };
}

/** The example config with our protocol, server name and uplink; nothing else changed. */
export function athemeConfig(link: ServicesLink): string {
  if (!fs.existsSync(ATHEME_EXAMPLE)) {
    throw new Error(`${ATHEME_EXAMPLE} not found: install the Debian package atheme-services (scripts/install-deps.sh)`);
  }
  let conf = fs.readFileSync(ATHEME_EXAMPLE, 'utf8');
  const replace = (pattern: RegExp, by: string, what: string): void => {
    if (!pattern.test(conf)) {
      throw new Error(`atheme harness: the example config has no ${what} to replace (${pattern.source})`);
    }
    conf = conf.replace(pattern, by);
  };
  replace(/#loadmodule "modules\/protocol\/charybdis";/, 'loadmodule "modules/protocol/inspircd";', 'protocol module');
  replace(/(serverinfo \{[^]*?\n\tname = )"[^"]*";/, `$1"${SERVICES_NAME}";`, 'serverinfo name');
  replace(/(serverinfo \{[^]*?\n\tnumeric = )"[^"]*";/, '$1"00A";', 'serverinfo numeric');
  replace(/uplink "irc\.example\.net" \{[^]*?\n\};/,
    `uplink "${link.uplinkName}" {\n\thost = "127.0.0.1";\n\tpassword = "${link.password}";\n\tport = ${link.linkPort};\n};`,
    'first uplink');
  replace(/uplink "irc6\.example\.net" \{[^]*?\n\};/, '', 'second uplink');
  return conf;
}

export interface AthemeHandle {
  readonly pid: number;
  logPath: string;
  isRunning(): boolean;
  stop(): Promise<void>;
  tail(lines?: number): string;
}

/**
 * Starts Atheme in `dir` and waits (bounded) until NickServ answers on the IRC server at
 * `ircPort`: then the link is up and services are ready.
 */
export async function startAtheme(dir: string, link: ServicesLink, ircPort: number): Promise<AthemeHandle> {
  if (!fs.existsSync(ATHEME_BINARY)) {
    throw new Error(`${ATHEME_BINARY} not found: install the Debian package atheme-services (scripts/install-deps.sh)`);
  }
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  const confPath = path.join(dir, 'atheme.conf');
  fs.writeFileSync(confPath, athemeConfig(link));
  const logPath = path.join(dir, 'atheme.out');
  const proc: ManagedProcess = spawnLogged({
    name: 'atheme',
    command: ATHEME_BINARY,
    args: ['-n', '-c', confPath, '-D', dataDir, '-l', path.join(dir, 'atheme.log'), '-p', path.join(dir, 'atheme.pid')],
    logPath,
    cwd: dir,
  });
  const fileLog = path.join(dir, 'atheme.log');
  let probe: IrcTestClient | undefined;
  try {
    probe = await IrcTestClient.connect({ port: ircPort, nick: `svcprobe${process.pid % 1000}`, timeoutMs: 10_000 });
    const client = probe;
    let asked = 0;
    await pollUntil('NickServ on the test InspIRCd', async () => {
      if (!proc.isRunning()) throw new PollAbort(`atheme exited (${String(await proc.exited)})`);
      const from = client.lines.length;
      client.send(`WHOIS NickServ`);
      asked++;
      const answer = await client.waitFor((l) => l.command === '318' || l.command === '311' || l.command === '401',
        2000, `WHOIS NickServ #${asked}`).catch(() => null);
      return answer && client.lines.slice(from).some((l) => l.command === '311') ? true : undefined;
    }, { timeoutMs: 20_000, intervalMs: 250 });
  } catch (err) {
    await proc.stop(3000);
    throw new Error(`Atheme did not link (${(err as Error).message}).\n--- ${logPath}\n${proc.tail(30)}\n--- ${fileLog}\n` +
      tailFile(fileLog, 30));
  } finally {
    await probe?.quit('ready').catch(() => undefined);
  }
  return {
    get pid(): number {
      return proc.pid;
    },
    logPath: fileLog,
    isRunning: () => proc.isRunning(),
    stop: () => proc.stop(5000),
    tail: (lines = 40) => tailFile(fileLog, lines),
  };
}
