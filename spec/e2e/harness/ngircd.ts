/**
 * A real ngIRCd for end-to-end tests: an IRC server without IRCv3 beyond `multi-prefix` (no
 * labeled-response, no SASL, no server-time) that answers 421 to a line starting with tags. The
 * right server to prove the bridge's fallbacks give clean plain IRC.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ircdHandle, type InspircdHandle } from './inspircd';
import { IrcTestClient } from './irc-client';
import { freePort, portAccepts } from './ports';
import { PollAbort, pollUntil, spawnLogged, type ManagedProcess } from './proc';

export const NGIRCD_BINARY = process.env.NGIRCD_BINARY ?? '/usr/sbin/ngircd';

export function ngircdConfig(dir: string, port: number, serverName: string): string {
  return `# Written by the matrix-irc-bridge e2e harness. Loopback only.
[Global]
Name = ${serverName}
Info = matrix-irc-bridge e2e
Listen = 127.0.0.1
Ports = ${port}
PidFile = ${path.join(dir, 'ngircd.pid')}
MotdPhrase = matrix-irc-bridge e2e test server
ServerUID = ${process.getuid?.() ?? 0}
ServerGID = ${process.getgid?.() ?? 0}
[Limits]
MaxConnectionsIP = 0
MaxNickLength = 30
[Options]
DNS = no
Ident = no
PAM = no
`;
}

/** Starts ngIRCd with its own config in `dir` and waits (bounded) until a client registers.
 *  The handle has the shape of InspIRCd's, so an e2e environment can run on either. */
export async function startNgircd(dir: string, serverName = 'irc.ngircd.test'): Promise<InspircdHandle> {
  if (!fs.existsSync(NGIRCD_BINARY)) {
    throw new Error(`${NGIRCD_BINARY} not found: install the Debian package ngircd (scripts/install-deps.sh)`);
  }
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const configPath = path.join(dir, 'ngircd.conf');
  fs.writeFileSync(configPath, ngircdConfig(dir, port, serverName));
  const logPath = path.join(dir, 'ngircd.out');

  const launch = async (): Promise<ManagedProcess> => {
    const started = spawnLogged({ name: 'ngircd', command: NGIRCD_BINARY, args: ['-n', '-f', configPath], logPath, cwd: dir });
    try {
      await pollUntil(`ngIRCd on 127.0.0.1:${port}`, async () => {
        if (!started.isRunning()) throw new PollAbort(`ngIRCd exited (${String(await started.exited)})`);
        return (await portAccepts(port, 500)) ? true : undefined;
      }, { timeoutMs: 15_000, intervalMs: 50 });
      const probe = await IrcTestClient.connect({ port, nick: `probe${process.pid % 10000}`, timeoutMs: 10_000 });
      await probe.quit('ready check');
    } catch (err) {
      await started.stop(3000);
      throw new Error(`ngIRCd did not start (${(err as Error).message}).\n--- ${logPath}\n${started.tail(40)}`);
    }
    return started;
  };

  return ircdHandle({ name: 'ngIRCd', port, serverName, logPath, configPath, launch, first: await launch() });
}
