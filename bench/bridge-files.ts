/**
 * The bridge's config and registration as the benchmark runs it: network `bench` on the local
 * InspIRCd, a send queue that never holds the benchmark back (`send_burst` at the schema's
 * maximum of 100, `send_rate: 1000`), metrics on; the registration from `node lib/main.js -r`.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as yaml from 'js-yaml';
import { bridgeMain, repoRoot } from '../spec/e2e/harness/bridge';

export const NETWORK = 'bench';
export const DOMAIN = 'localhost';
export const BOT_NICK = 'BenchBot';

export interface BridgeFileOptions {
  /** networks.bench.max_concurrent_connects */
  concurrency: number;
  /** networks.bench.puppet_deaf_mode */
  deaf: string;
  logLevel: string;
}

export function writeBridgeFiles(dir: string, opts: BridgeFileOptions, ports: { hs: number; as: number; metrics: number; irc: number }):
  { configPath: string; regPath: string; dbPath: string; logPath: string } {
  fs.mkdirSync(dir, { recursive: true });
  const configPath = path.join(dir, 'config.yaml');
  const regPath = path.join(dir, 'registration.yaml');
  const dbPath = path.join(dir, 'bridge.db');
  const config = {
    homeserver: { url: `http://127.0.0.1:${ports.hs}`, domain: DOMAIN },
    appservice: { bind: '127.0.0.1', port: ports.as },
    database: { path: dbPath },
    networks: {
      [NETWORK]: {
        host: '127.0.0.1',
        port: ports.irc,
        bot_nick: BOT_NICK,
        send_burst: 100,
        send_rate: 1000,
        max_concurrent_connects: opts.concurrency,
        puppet_deaf_mode: opts.deaf,
      },
    },
    logging: { level: opts.logLevel, format: 'text' },
    metrics: { enabled: true, bind: '127.0.0.1', port: ports.metrics },
  };
  fs.writeFileSync(configPath, yaml.dump(config, { lineWidth: -1 }));
  execFileSync(process.execPath, [bridgeMain(), '-r', '-c', configPath, '-f', regPath, '-u', `http://127.0.0.1:${ports.as}`],
    { cwd: repoRoot(), timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
  return { configPath, regPath, dbPath, logPath: path.join(dir, 'bridge.log') };
}

