import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from './ports';
import { PollAbort, pollUntil, spawnLogged, tailFile, type ManagedProcess } from './proc';

/**
 * The Python of the Synapse venv: $SYNAPSE_VENV, else the cache path that
 * scripts/install-deps.sh fills, else /opt/synapse-venv when it exists.
 */
export function synapsePython(): string {
  const explicit = process.env.SYNAPSE_VENV;
  if (explicit !== undefined && explicit !== '') {
    if (!hasSynapse(explicit)) {
      throw new Error(`SYNAPSE_VENV=${explicit} has no Synapse installed: run scripts/install-deps.sh`);
    }
    return path.join(explicit, 'bin', 'python');
  }
  const candidates = [path.join(os.homedir(), '.cache', 'matrix-irc-bridge', 'synapse-venv'), '/opt/synapse-venv'];
  for (const venv of candidates) {
    if (hasSynapse(venv)) return path.join(venv, 'bin', 'python');
  }
  throw new Error(
    `no Synapse venv found (tried ${candidates.join(', ')}): run scripts/install-deps.sh or set SYNAPSE_VENV`,
  );
}

/** A venv with a python and an installed synapse package (not one still being installed). */
function hasSynapse(venv: string): boolean {
  if (!fs.existsSync(path.join(venv, 'bin', 'python'))) return false;
  const lib = path.join(venv, 'lib');
  if (!fs.existsSync(lib)) return false;
  return fs
    .readdirSync(lib)
    .filter((d) => d.startsWith('python3'))
    .some((d) => fs.existsSync(path.join(lib, d, 'site-packages', 'synapse', 'app', 'homeserver.py')));
}

export interface SynapseOptions {
  /** The bridge's appservice registration file, read by Synapse at start. */
  registrationPath: string;
  port?: number;
}

export interface RegisteredUser {
  userId: string;
  accessToken: string;
  password: string;
}

export interface SynapseHandle {
  url: string;
  port: number;
  serverName: 'localhost';
  /** The PID of the current (or last) Synapse process. */
  readonly pid: number;
  logPath: string;
  isRunning(): boolean;
  /** SIGTERM, bounded wait (15 s), then SIGKILL. */
  stop(): Promise<void>;
  /**
   * Starts Synapse again after stop(): same config, port, database, signing key and
   * media store; waits (bounded) until the client API answers.
   */
  start(): Promise<void>;
  tail(lines?: number): string;
  registerUser(localpart: string, password?: string): Promise<RegisteredUser>;
}

const UNLIMITED = { per_second: 10_000, burst_count: 100_000 };

/** A Synapse signing key line: "ed25519 <key id> <unpadded base64 seed>". */
function signingKeyLine(): string {
  const { privateKey } = crypto.generateKeyPairSync('ed25519');
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  const seed = der.subarray(der.length - 32);
  return `ed25519 a_e2e ${seed.toString('base64').replace(/=+$/, '')}\n`;
}

function secret(): string {
  return crypto.randomBytes(24).toString('hex');
}

/**
 * The homeserver config. JSON is valid YAML, so it is written as JSON: no YAML
 * library needed and no quoting surprises in paths.
 */
export function synapseConfig(dir: string, port: number, registrationPath: string): Record<string, unknown> {
  return {
    server_name: 'localhost',
    public_baseurl: `http://127.0.0.1:${port}/`,
    pid_file: path.join(dir, 'homeserver.pid'),
    listeners: [
      {
        port,
        bind_addresses: ['127.0.0.1'],
        type: 'http',
        tls: false,
        x_forwarded: false,
        resources: [{ names: ['client'], compress: false }],
      },
    ],
    database: { name: 'sqlite3', args: { database: path.join(dir, 'homeserver.db') } },
    media_store_path: path.join(dir, 'media_store'),
    signing_key_path: path.join(dir, 'signing.key'),
    log_config: path.join(dir, 'log.config'),
    report_stats: false,
    trusted_key_servers: [],
    suppress_key_server_warning: true,
    federation_domain_whitelist: [],
    enable_registration: true,
    enable_registration_without_verification: true,
    registration_shared_secret: secret(),
    macaroon_secret_key: secret(),
    form_secret: secret(),
    app_service_config_files: [registrationPath],
    enable_authenticated_media: false,
    url_preview_enabled: false,
    presence: { enabled: false },
    // Synapse publishes no room in its directory by default; the room-state spec checks that +s
    // takes a published portal out of it.
    room_list_publication_rules: [{ action: 'allow' }],
    require_auth_for_profile_requests: false,
    rc_message: UNLIMITED,
    rc_registration: UNLIMITED,
    rc_login: { address: UNLIMITED, account: UNLIMITED, failed_attempts: UNLIMITED },
    rc_joins: { local: UNLIMITED, remote: UNLIMITED },
    rc_joins_per_room: UNLIMITED,
    rc_invites: { per_room: UNLIMITED, per_user: UNLIMITED, per_issuer: UNLIMITED },
    rc_room_creation: UNLIMITED,
    rc_profile: UNLIMITED,
    rc_media_create: UNLIMITED,
    rc_admin_redaction: UNLIMITED,
    rc_3pid_validation: UNLIMITED,
  };
}

const LOG_CONFIG = `version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s'
handlers:
  console:
    class: logging.StreamHandler
    formatter: precise
loggers:
  synapse.storage.SQL:
    level: WARNING
root:
  level: INFO
  handlers: [console]
disable_existing_loggers: false
`;

/**
 * Starts Synapse (server name localhost) with its config, database, signing key and
 * media in dir, and waits (bounded, about 60 s) until the client API answers.
 */
export async function startSynapse(dir: string, opts: SynapseOptions): Promise<SynapseHandle> {
  const python = synapsePython();
  if (!fs.existsSync(opts.registrationPath)) {
    throw new Error(`appservice registration ${opts.registrationPath} does not exist (generate it before Synapse starts)`);
  }
  fs.mkdirSync(path.join(dir, 'media_store'), { recursive: true });
  const port = opts.port ?? (await freePort());
  const configPath = path.join(dir, 'homeserver.yaml');
  fs.writeFileSync(path.join(dir, 'signing.key'), signingKeyLine(), { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'log.config'), LOG_CONFIG);
  fs.writeFileSync(configPath, JSON.stringify(synapseConfig(dir, port, opts.registrationPath), null, 2));
  const logPath = path.join(dir, 'synapse.log');
  const url = `http://127.0.0.1:${port}`;

  const launch = async (): Promise<ManagedProcess> => {
    const started: ManagedProcess = spawnLogged({
      name: 'synapse',
      command: python,
      args: ['-m', 'synapse.app.homeserver', '--config-path', configPath],
      logPath,
      cwd: dir,
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    });
    try {
      await pollUntil(
        `Synapse at ${url}/_matrix/client/versions`,
        async () => {
          if (!started.isRunning()) throw new PollAbort(`Synapse exited (${String(await started.exited)})`);
          const res = await fetch(`${url}/_matrix/client/versions`, { signal: AbortSignal.timeout(2000) });
          await res.arrayBuffer();
          return res.ok ? true : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );
    } catch (err) {
      await started.stop(5000);
      throw new Error(`Synapse did not start: ${(err as Error).message}\n--- ${logPath}\n${started.tail(60)}`);
    }
    return started;
  };

  let proc: ManagedProcess = await launch();

  const registerUser = async (localpart: string, password = secret()): Promise<RegisteredUser> => {
    const body = { username: localpart, password, inhibit_login: false, auth: { type: 'm.login.dummy' } };
    for (let attempt = 0; attempt < 3; attempt++) {
      const res = await fetch(`${url}/_matrix/client/v3/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      });
      const json = (await res.json()) as { user_id?: string; access_token?: string; session?: string; errcode?: string };
      if (res.ok && json.user_id !== undefined && json.access_token !== undefined) {
        return { userId: json.user_id, accessToken: json.access_token, password };
      }
      if (res.status === 401 && json.session !== undefined) {
        // user-interactive auth: repeat with the session the server handed out
        Object.assign(body.auth, { session: json.session });
        continue;
      }
      throw new Error(`registering @${localpart}:localhost failed: HTTP ${res.status} ${JSON.stringify(json)}`);
    }
    throw new Error(`registering @${localpart}:localhost did not complete in 3 rounds`);
  };

  return {
    url,
    port,
    serverName: 'localhost',
    get pid(): number {
      return proc.pid;
    },
    logPath,
    isRunning: () => proc.isRunning(),
    stop: () => proc.stop(15_000),
    start: async () => {
      if (proc.isRunning()) throw new Error('Synapse is already running');
      proc = await launch();
    },
    tail: (lines) => tailFile(logPath, lines),
    registerUser,
  };
}
