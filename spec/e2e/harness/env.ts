import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bridgeMain, startBridge, type BridgeHandle, type BridgeOptions } from './bridge';
import { startInspircd, type InspircdHandle, type InspircdOptions } from './inspircd';
import { IrcTestClient } from './irc-client';
import { startNgircd } from './ngircd';
import { MatrixTestClient } from './matrix-client';
import { freePort } from './ports';
import { report } from './proc';
import { startSynapse, type SynapseHandle } from './synapse';

export interface E2EEnv {
  dir: string;
  ircd: InspircdHandle;
  synapse: SynapseHandle;
  bridge: BridgeHandle;
  /** Set by guard() when a step failed: the temp dir is then kept for a look. */
  failed: boolean;
  /** A raw IRC client on the test InspIRCd (quit at teardown). */
  ircClient(nick: string, caps?: string[]): Promise<IrcTestClient>;
  /** Registers a Matrix user on the test Synapse and returns a synced client for it. */
  matrixUser(localpart: string, displayName?: string, password?: string): Promise<MatrixTestClient>;
  /** The tails of every server log, for failure messages. */
  logs(lines?: number): string;
  teardown(): Promise<void>;
}

export interface SetupOptions {
  /** Options of the test InspIRCd (modules, extra config such as server links). */
  ircd?: InspircdOptions;
  /** The IRC server: InspIRCd (default) or ngIRCd (no IRCv3 beyond multi-prefix; `ircd`
   *  options do not apply). */
  ircServer?: 'inspircd' | 'ngircd';
  bridge?: Partial<Omit<BridgeOptions, 'dir' | 'homeserverUrl' | 'ircPort'>>;
  /** Use this (emptied) folder instead of a new temp dir, and keep it at teardown. */
  dir?: string;
}

/**
 * InspIRCd, the bridge's registration, Synapse and the running bridge, in one temp
 * dir under os.tmpdir(). If any step fails, what already started is stopped before
 * the error is rethrown; teardown() stops everything by PID in any case.
 */
export async function setupEnv(opts: SetupOptions = {}): Promise<E2EEnv> {
  bridgeMain(); // fail first, and clearly, when lib/ is not built
  let dir: string;
  if (opts.dir === undefined) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mib-e2e-'));
  } else {
    dir = path.resolve(opts.dir);
    for (const sub of ['inspircd', 'ngircd', 'bridge', 'synapse']) fs.rmSync(path.join(dir, sub), { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
  }
  const keepDir = opts.dir !== undefined;
  const stops: { name: string; stop: () => Promise<void> }[] = [];
  const ircClients: IrcTestClient[] = [];
  let ircd: InspircdHandle | undefined;
  let synapse: SynapseHandle | undefined;
  let bridge: BridgeHandle | undefined;
  let tornDown = false;

  const logs = (lines = 60): string => {
    const parts: string[] = [`(e2e files in ${dir})`];
    if (bridge) parts.push(`--- bridge log ${bridge.logPath}\n${bridge.tail(lines)}`);
    if (synapse) parts.push(`--- synapse log ${synapse.logPath}\n${synapse.tail(Math.min(lines, 30))}`);
    if (ircd) parts.push(`--- ${opts.ircServer ?? 'inspircd'} output ${ircd.logPath}\n${ircd.tail(Math.min(lines, 20))}`);
    return parts.join('\n');
  };

  const env: E2EEnv = {
    dir,
    failed: false,
    get ircd(): InspircdHandle {
      if (!ircd) throw new Error('InspIRCd is not running');
      return ircd;
    },
    get synapse(): SynapseHandle {
      if (!synapse) throw new Error('Synapse is not running');
      return synapse;
    },
    get bridge(): BridgeHandle {
      if (!bridge) throw new Error('the bridge is not set up');
      return bridge;
    },
    async ircClient(nick, caps) {
      const client = await IrcTestClient.connect({ port: env.ircd.port, nick, caps });
      ircClients.push(client);
      return client;
    },
    async matrixUser(localpart, displayName, password) {
      const user = await env.synapse.registerUser(localpart, password);
      const client = await MatrixTestClient.create(env.synapse.url, user.userId, user.accessToken);
      if (displayName !== undefined) await client.setDisplayName(displayName);
      return client;
    },
    logs,
    async teardown() {
      if (tornDown) return;
      tornDown = true;
      await Promise.all(ircClients.map((c) => c.quit('e2e teardown').catch(() => undefined)));
      // reverse start order: the bridge first, then Synapse, then InspIRCd
      for (const s of [...stops].reverse()) {
        try {
          await s.stop();
        } catch (err) {
          report(`e2e teardown: stopping ${s.name} failed: ${(err as Error).message}`);
        }
      }
      if (keepDir) {
        // a caller-chosen folder stays as it is
      } else if (env.failed || process.env.E2E_KEEP === '1') {
        report(`e2e: kept ${dir} for inspection`);
      } else {
        fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      }
    },
  };

  try {
    ircd = opts.ircServer === 'ngircd' ? await startNgircd(path.join(dir, 'ngircd'))
      : await startInspircd(path.join(dir, 'inspircd'), opts.ircd ?? {});
    stops.push({ name: opts.ircServer ?? 'inspircd', stop: () => ircd?.stop() ?? Promise.resolve() });
    const hsPort = await freePort();
    bridge = await startBridge({
      ...(opts.bridge ?? {}),
      dir: path.join(dir, 'bridge'),
      homeserverUrl: `http://127.0.0.1:${hsPort}`,
      ircPort: ircd.port,
    });
    synapse = await startSynapse(path.join(dir, 'synapse'), { registrationPath: bridge.registrationPath, port: hsPort });
    stops.push({ name: 'synapse', stop: () => synapse?.stop() ?? Promise.resolve() });
    stops.push({ name: 'bridge', stop: () => bridge?.stop() ?? Promise.resolve() });
    await bridge.spawnBridge();
  } catch (err) {
    env.failed = true;
    await env.teardown();
    throw err;
  }
  return env;
}

/**
 * Runs one test step; on failure marks the env failed (its files are kept) and adds
 * the server log tails to the error.
 */
export async function guard<T>(env: E2EEnv | undefined, fn: () => Promise<T>): Promise<T> {
  if (env === undefined) throw new Error('the e2e environment did not start (see beforeAll)');
  try {
    return await fn();
  } catch (err) {
    env.failed = true;
    const message = err instanceof Error ? err.message : String(err);
    const wrapped = new Error(`${message}\n\n${env.logs()}`);
    if (err instanceof Error && err.stack) wrapped.stack = `${wrapped.message}\n${err.stack.split('\n').slice(1).join('\n')}`;
    throw wrapped;
  }
}

/** The cast most specs start with: `ircbob` on IRC in `channel`, and the Matrix user `alice`
 *  (display name Alice), both made in a guarded step. */
export async function bobAndAlice(env: E2EEnv, channel: string): Promise<{ bob: IrcTestClient; alice: MatrixTestClient }> {
  return guard(env, async () => {
    const bob = await env.ircClient('ircbob');
    await bob.join(channel);
    const alice = await env.matrixUser('alice', 'Alice');
    return { bob, alice };
  });
}
