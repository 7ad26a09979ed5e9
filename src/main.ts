/**
 * Composition root: command line -> config + registration -> the concrete parts -> start.
 * The only file that constructs concrete classes. SIGTERM/SIGINT stop the bridge cleanly.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createServer, type Server } from 'node:http';
import { parseArgs } from 'node:util';
import { Bridge } from './bridge/bridge';
import type { BridgeContext } from './bridge/context';
import { escapeRegex, renderTemplate, templateRegexSource } from './bridge/templates';
import { type Config, ConfigError, loadConfig } from './config';
import { asUserId } from './ids';
import { IdentRegistry, IdentServer } from './irc/identd';
import { configureLogging, getLogger } from './log';
import { AppserviceServer } from './matrix/appservice';
import { MatrixApiError, MatrixClient } from './matrix/client';
import { loadRegistration, type Registration, RegistrationError } from './matrix/registration';
import { Metrics } from './metrics';
import { SecretBox } from './store/secret-box';
import { SqliteStore } from './store/sqlite';

const log = getLogger('main');

export const HELP = `matrix-irc-bridge: a Matrix <-> IRC application-service bridge

Usage:
  matrix-irc-bridge -r -c CONFIG -f REGISTRATION -u URL [--localpart NAME]
      Write a new registration file (fresh random tokens) for the homeserver.
      URL is where the homeserver reaches this bridge, e.g. http://127.0.0.1:9995.
  matrix-irc-bridge -c CONFIG -f REGISTRATION [-p PORT]
      Run the bridge. PORT overrides appservice.port from the config.

Options:
  -c, --config FILE        bridge configuration (YAML; see config.sample.yaml)
  -f, --file FILE          registration file (read when running, written with -r)
  -r, --generate-registration
  -u, --url URL            the appservice URL written into the registration
      --localpart NAME     the bridge bot's localpart (with -r; default ircbridge)
  -p, --port PORT          listen on PORT instead of appservice.port
  -h, --help               this text
`;

export class UsageError extends Error {}

interface Args {
  config: string;
  file: string;
  generate: boolean;
  url: string | undefined;
  port: number | undefined;
  localpart: string;
  help: boolean;
}

export function parseCli(argv: string[]): Args {
  let v;
  try {
    v = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        file: { type: 'string', short: 'f' },
        'generate-registration': { type: 'boolean', short: 'r' },
        url: { type: 'string', short: 'u' },
        port: { type: 'string', short: 'p' },
        localpart: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const help = v.help ?? false;
  if (!help && (!v.config || !v.file)) {
    throw new UsageError('both -c CONFIG and -f REGISTRATION are required');
  }
  const generate = v['generate-registration'] ?? false;
  if (generate && !v.url) {
    throw new UsageError('-r needs -u URL (where the homeserver reaches the bridge)');
  }
  let port: number | undefined;
  if (v.port !== undefined) {
    port = Number(v.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new UsageError(`-p: expected a port number 1-65535, got "${v.port}"`);
    }
  }
  const localpart = v.localpart ?? 'ircbridge';
  if (!/^[a-z0-9._=/-]+$/.test(localpart)) {
    throw new UsageError('--localpart: only a-z 0-9 . _ = / - are allowed');
  }
  return { config: v.config ?? '', file: v.file ?? '', generate, url: v.url, port, localpart, help };
}

/** The namespaces the bridge needs, from the config's templates. */
export function namespacesOf(config: Config): { users: string[]; aliases: string[] } {
  const domain = escapeRegex(config.homeserver.domain);
  const users: string[] = [];
  const aliases: string[] = [];
  for (const id of Object.keys(config.networks)) {
    const net = config.networks[id] as Config['networks'][string];
    users.push(`@${templateRegexSource(net.ghost_user_template, { NETWORK: id }, 'NICK').replace('(.+)', '.+')}:${domain}`);
    aliases.push(`#${templateRegexSource(net.portal_alias_template, { NETWORK: id }, 'CHANNEL').replace('(.+)', '.+')}:${domain}`);
  }
  return { users, aliases };
}

/** Problems between the config and the registration the homeserver has. */
export function checkRegistration(config: Config, reg: Registration, port: number): string[] {
  const problems: string[] = [];
  const domain = config.homeserver.domain;
  for (const id of Object.keys(config.networks)) {
    const net = config.networks[id] as Config['networks'][string];
    const ghost = `@${renderTemplate(net.ghost_user_template, { NETWORK: id, NICK: 'somenick' })}:${domain}`;
    if (!reg.isUserMatch(ghost, true)) {
      problems.push(`networks.${id}.ghost_user_template: ghosts like ${ghost} are outside the registration's exclusive user namespace (regenerate the registration with -r)`);
    }
    const alias = `#${renderTemplate(net.portal_alias_template, { NETWORK: id, CHANNEL: 'somechannel' })}:${domain}`;
    if (!reg.isAliasMatch(alias, true)) {
      problems.push(`networks.${id}.portal_alias_template: aliases like ${alias} are outside the registration's exclusive alias namespace (regenerate the registration with -r)`);
    }
  }
  if (reg.url) {
    try {
      const u = new URL(reg.url);
      const regPort = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
      if (regPort !== port) {
        problems.push(`registration url ${reg.url} uses port ${regPort}, but the bridge listens on ${port}`);
      }
    } catch {
      problems.push(`registration url "${reg.url}" is not a URL`);
    }
  }
  if (reg.rateLimited !== false) {
    log.warn('the registration does not set rate_limited: false; ghosts may be rate limited by the homeserver');
  }
  return problems;
}

/** Waits (bounded per try, unbounded overall) until the homeserver answers; fatal if the
 *  homeserver rejects our as_token. */
async function waitForHomeserver(matrix: MatrixClient, url: string, stopping: () => boolean): Promise<void> {
  let delay = 1000;
  for (;;) {
    try {
      await matrix.versions();
      await matrix.whoami();
      return;
    } catch (err) {
      if (err instanceof MatrixApiError && (err.errcode === 'M_UNKNOWN_TOKEN' || err.status === 401)) {
        throw new Error(`the homeserver at ${url} does not accept the registration's as_token: ` +
          'add the registration file to app_service_config_files in the homeserver config and restart it');
      }
      if (stopping()) {
        throw new Error('stopped while waiting for the homeserver');
      }
      log.warn('homeserver not reachable yet; retrying', { url, err: (err as Error).message, retry_ms: delay });
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(30_000, delay * 2);
    }
  }
}

function startMetricsServer(metrics: Metrics, bind: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    metrics.registry.metrics().then((text) => {
      res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text);
    }, (err: Error) => {
      res.writeHead(500).end(err.message);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, bind, () => resolve(server));
  });
}

export async function run(args: Args): Promise<() => Promise<void>> {
  const config = loadConfig(args.config);
  configureLogging({ level: config.logging.level, format: config.logging.format });
  if (args.generate) {
    const ns = namespacesOf(config);
    // Loaded only here: the library behind it takes about a second to load.
    const { writeRegistration } = await import('./matrix/new-registration');
    writeRegistration(args.file, { url: args.url as string, senderLocalpart: args.localpart, userRegexes: ns.users, aliasRegexes: ns.aliases });
    log.info('registration written; add it to the homeserver\'s app_service_config_files', { path: args.file });
    return async () => undefined;
  }
  const reg = loadRegistration(args.file);
  const port = args.port ?? config.appservice.port;
  const problems = checkRegistration(config, reg, port);
  if (problems.length > 0) {
    throw new RegistrationError(problems, args.file);
  }
  const metrics = new Metrics();
  const secrets = SecretBox.fromKeyFile(config.database.key_file); // refuses a key file others can read
  const store = new SqliteStore(config.database.path, secrets);
  const ident = config.identd.enabled ? new IdentRegistry() : null;
  const late: { bridge?: Bridge } = {}; // the bridge, once built, for the client's failure hook
  const matrix = new MatrixClient({
    homeserverUrl: config.homeserver.url, asToken: reg.asToken, onFailure: (err) => {
      metrics.matrixFailure(err.status);
      late.bridge?.noteHomeserverFailure(err.status);
    },
  });
  const ctx: BridgeContext = {
    store, matrix, metrics,
    domain: config.homeserver.domain,
    botUserId: asUserId(`@${reg.senderLocalpart}:${config.homeserver.domain}`),
    mediaUrl: (config.homeserver.media_url ?? config.homeserver.url).replace(/\/+$/, ''),
    ident,
  };
  const bridge = new Bridge(ctx, config.networks, {
    catchUpMaxAgeMs: config.homeserver.catch_up_max_age_ms,
    bridgeAdmins: config.admin.bridge_admins,
    version: packageVersion(),
  });
  late.bridge = bridge;
  metrics.connectionSource = () => [...bridge.networks.values()].flatMap((net) => [
    { network: net.id, state: net.connected ? 'bot_registered' : 'bot_connecting', count: 1 },
    ...Object.entries(net.puppets.counts()).map(([state, count]) => ({ network: net.id, state: `puppet_${state}`, count })),
  ]);
  const appservice = new AppserviceServer({ hsToken: reg.hsToken, bind: config.appservice.bind, port,
    provisioningSecret: config.appservice.provisioning_secret }, bridge);
  let stopping = false;
  const identd = ident ? new IdentServer({ bind: config.identd.bind, port: config.identd.port, registry: ident }) : null;
  if (identd) {
    await identd.listen().catch((err: Error) => {
      store.close();
      throw new Error(`identd: cannot listen on ${config.identd.bind}:${config.identd.port}: ${err.message}`);
    });
    log.info('identd listening', { bind: config.identd.bind, port: config.identd.port });
  }
  await appservice.listen();
  log.info('appservice listening', { bind: config.appservice.bind, port });
  const metricsServer = config.metrics.enabled
    ? await startMetricsServer(metrics, config.metrics.bind, config.metrics.port) : null;
  await waitForHomeserver(matrix, config.homeserver.url, () => stopping);
  await bridge.start();
  log.info('bridge started', { networks: Object.keys(config.networks), bot: ctx.botUserId });
  return async () => {
    stopping = true;
    await bridge.stop();
    await appservice.close();
    await identd?.close();
    metricsServer?.close();
    store.close();
  };
}

/** `bin/matrix-irc-bridge` and `npm start` land here. */
export function cli(argv: string[]): void {
  let args: Args;
  try {
    args = parseCli(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${HELP}`);
    process.exit(2);
  }
  if (args.help) {
    process.stdout.write(HELP);
    return;
  }
  let stop: (() => Promise<void>) | null = null;
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) {
      return;
    }
    stopping = true;
    log.info('stopping', { signal });
    const timer = setTimeout(() => {
      log.error('clean stop took too long; exiting');
      process.exit(1);
    }, 15_000);
    void (stop ? stop() : Promise.resolve()).then(() => {
      clearTimeout(timer);
      process.exit(0);
    }, (err: Error) => {
      log.error('error while stopping', { err });
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('unhandledRejection', (err) => log.error('unhandled promise rejection', { err }));
  run(args).then((s) => {
    stop = s;
    if (args.generate) {
      process.exit(0);
    }
  }, (err: Error) => {
    const message = err instanceof ConfigError || err instanceof RegistrationError ? err.message : `${err.message}`;
    log.error('cannot start', { reason: message });
    process.stderr.write(`${message}\n`);
    process.exit(1);
  });
}

if (require.main === module) {
  cli(process.argv.slice(2));
}

/** The version in the package.json next to lib/ (or src/), or "unknown". */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}
