import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as yaml from 'js-yaml';
import { freePorts } from './ports';
import { PollAbort, pollUntil, spawnLogged, tailFile, type ManagedProcess } from './proc';

/** The repository root: the nearest folder above this file whose package.json names the bridge. */
export function repoRoot(): string {
  if (process.env.BRIDGE_ROOT !== undefined && process.env.BRIDGE_ROOT !== '') return process.env.BRIDGE_ROOT;
  let dir = __dirname;
  for (let i = 0; i < 12; i++) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      const name = (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name;
      if (name === 'matrix-irc-bridge') return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(`cannot find the matrix-irc-bridge package.json above ${__dirname} (set BRIDGE_ROOT)`);
}

/** lib/main.js, or a clear error telling how to build it. */
export function bridgeMain(root = repoRoot()): string {
  const main = path.join(root, 'lib', 'main.js');
  if (!fs.existsSync(main)) {
    throw new Error(`${main} is missing: the end-to-end tests run the built bridge; run \`npm run build\` first`);
  }
  return main;
}

export interface BridgeOptions {
  dir: string;
  /** Where the homeserver will listen (it may not run yet: the registration comes first). */
  homeserverUrl: string;
  ircPort: number;
  networkId?: string;
  botNick?: string;
  asPort?: number;
  metricsPort?: number;
  /** Merged into networks.<id> of the config. */
  networkExtra?: Record<string, unknown>;
  /** Merged into the top level of the config. */
  configExtra?: Record<string, unknown>;
}

export interface AppserviceRegistration {
  id: string;
  url: string;
  as_token: string;
  hs_token: string;
  sender_localpart: string;
  namespaces?: Record<string, { exclusive?: boolean; regex: string }[]>;
  [key: string]: unknown;
}

export interface BridgeHandle {
  configPath: string;
  registrationPath: string;
  registration: AppserviceRegistration;
  asPort: number;
  metricsPort: number;
  logPath: string;
  networkId: string;
  botNick: string;
  /** Starts the bridge process and waits (bounded) for GET /health to answer 200; with
   *  `waitHealthy: false` it returns once the process is started. */
  spawnBridge(opts?: { waitHealthy?: boolean }): Promise<void>;
  isRunning(): boolean;
  pid(): number | undefined;
  /** SIGTERM, bounded wait, then SIGKILL. */
  stop(): Promise<void>;
  /**
   * Sends one signal (default SIGKILL) to the bridge process by its PID and waits
   * (bounded, 10 s) for it to exit. Start it again with spawnBridge().
   */
  kill(signal?: NodeJS.Signals): Promise<void>;
  restart(): Promise<void>;
  tail(lines?: number): string;
}

function run(command: string, args: string[], opts: { cwd: string; timeoutMs: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: opts.cwd, timeout: opts.timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve(`${stdout}${stderr}`);
    });
  });
}

/**
 * Writes the bridge config and generates the appservice registration with
 * `node lib/main.js -r`. The bridge itself starts later with spawnBridge(), once
 * the homeserver (which reads the registration at start) is up.
 */
export async function startBridge(opts: BridgeOptions): Promise<BridgeHandle> {
  const root = repoRoot();
  const main = bridgeMain(root);
  fs.mkdirSync(opts.dir, { recursive: true });
  const free = await freePorts(2);
  const asPort = opts.asPort ?? free[0] ?? 0;
  const metricsPort = opts.metricsPort ?? free[1] ?? 0;
  const networkId = opts.networkId ?? 'test';
  const botNick = opts.botNick ?? 'MatrixBridge';
  const configPath = path.join(opts.dir, 'config.yaml');
  const registrationPath = path.join(opts.dir, 'registration.yaml');
  const logPath = path.join(opts.dir, 'bridge.log');
  const config = {
    homeserver: { url: opts.homeserverUrl, domain: 'localhost' },
    appservice: { bind: '127.0.0.1', port: asPort },
    database: { path: path.join(opts.dir, 'bridge.db') },
    networks: {
      [networkId]: {
        host: '127.0.0.1',
        port: opts.ircPort,
        bot_nick: botNick,
        send_burst: 50,
        send_rate: 50,
        ...(opts.networkExtra ?? {}),
      },
    },
    logging: { level: 'debug', format: 'text' },
    metrics: { enabled: true, bind: '127.0.0.1', port: metricsPort },
    ...(opts.configExtra ?? {}),
  };
  fs.writeFileSync(configPath, yaml.dump(config, { lineWidth: -1 }));
  const genOut = await run(
    process.execPath,
    [main, '-r', '-c', configPath, '-f', registrationPath, '-u', `http://127.0.0.1:${asPort}`],
    { cwd: root, timeoutMs: 30_000 },
  );
  if (!fs.existsSync(registrationPath)) {
    throw new Error(`the bridge did not write ${registrationPath}:\n${genOut}`);
  }
  const registration = yaml.load(fs.readFileSync(registrationPath, 'utf8')) as AppserviceRegistration;

  let proc: ManagedProcess | undefined;
  let starts = 0;

  const spawnBridge = async (spawnOpts: { waitHealthy?: boolean } = {}): Promise<void> => {
    if (proc?.isRunning()) throw new Error('the bridge is already running');
    starts += 1;
    fs.appendFileSync(logPath, `\n===== e2e harness: bridge start #${starts} at ${new Date().toISOString()} =====\n`);
    const started = spawnLogged({
      name: 'bridge',
      command: process.execPath,
      args: [main, '-c', configPath, '-f', registrationPath],
      logPath,
      cwd: root,
    });
    proc = started;
    if (spawnOpts.waitHealthy === false) {
      return;
    }
    try {
      await pollUntil(
        `bridge /health on 127.0.0.1:${asPort}`,
        async () => {
          if (!started.isRunning()) throw new PollAbort(`the bridge exited (${String(await started.exited)})`);
          const res = await fetch(`http://127.0.0.1:${asPort}/health`, { signal: AbortSignal.timeout(2000) });
          await res.arrayBuffer();
          return res.status === 200 ? true : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
    } catch (err) {
      await started.stop(5000);
      throw new Error(`the bridge did not become healthy: ${(err as Error).message}\n--- ${logPath}\n${tailFile(logPath, 80)}`);
    }
  };

  const stop = async (): Promise<void> => {
    await proc?.stop(10_000);
  };

  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const current = proc;
    if (current === undefined || !current.isRunning()) throw new Error('the bridge is not running');
    try {
      process.kill(current.pid, signal);
    } catch {
      // exited meanwhile
    }
    let timer: NodeJS.Timeout | undefined;
    const exited = await Promise.race([
      current.exited.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => {
          resolve(false);
        }, 10_000);
      }),
    ]);
    clearTimeout(timer);
    if (!exited) {
      await current.stop(1000);
      throw new Error(`the bridge (pid ${current.pid}) did not exit within 10 s of ${signal}`);
    }
    fs.appendFileSync(logPath, `\n===== e2e harness: bridge pid ${current.pid} ended by ${signal} at ${new Date().toISOString()} =====\n`);
  };

  return {
    configPath,
    registrationPath,
    registration,
    asPort,
    metricsPort,
    logPath,
    networkId,
    botNick,
    spawnBridge,
    isRunning: () => proc?.isRunning() ?? false,
    pid: () => proc?.pid,
    stop,
    kill,
    restart: async () => {
      await stop();
      await spawnBridge();
    },
    tail: (lines = 80) => tailFile(logPath, lines),
  };
}
