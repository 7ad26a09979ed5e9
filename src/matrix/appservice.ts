/**
 * The appservice HTTP API the homeserver calls: transactions, user and alias queries,
 * third-party lookups and ping, plus `/health` for operators. Every `/_matrix/app/` route checks
 * hs_token (401 without one, 403 with a wrong one) in constant time. The provisioning API
 * (`/_matrix/provision/v1/`), when a secret is configured, checks that secret the same way.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getLogger } from '../log';

const log = getLogger('matrix.appservice');

export interface AppserviceHandlers {
  /** Stores the transaction's events durably. Returns false for a transaction ID seen before.
   *  Must not do slow work: the homeserver waits for the answer. Throwing answers 500 and the
   *  homeserver retries. */
  acceptTransaction(txnId: string, events: unknown[]): boolean;
  /** Called after a new transaction was stored and answered. */
  afterTransaction(): void;
  /** Does this user exist (creating it is allowed)? */
  queryUser(userId: string): Promise<boolean>;
  /** Does this alias exist (creating the room is allowed)? */
  queryAlias(alias: string): Promise<boolean>;
  thirdPartyProtocol(protocol: string): unknown;
  thirdPartyLocations(protocol: string | null, fields: Record<string, string>): Promise<unknown[]> | null;
  thirdPartyUsers(protocol: string | null, fields: Record<string, string>): Promise<unknown[]> | null;
  health(): { ready: boolean; detail: Record<string, unknown> };
  observeTransaction?(seconds: number, outcome: string): void;
  /** A provisioning call (`link`, `unlink`) with its JSON object body, already authenticated.
   *  Answers with an HTTP status and a JSON body; must not wait on IRC for long. */
  provision?(action: string, body: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }>;
}

export interface AppserviceServerOptions {
  hsToken: string;
  bind: string;
  port: number;
  maxBodyBytes?: number;
  /** Secret of the provisioning API; null or absent: the API answers 404. */
  provisioningSecret?: string | null;
}

/** Provisioning bodies are small JSON objects. */
const PROVISION_MAX_BODY = 64 * 1024;

class HttpError extends Error {
  constructor(readonly status: number, readonly errcode: string, message: string) {
    super(message);
  }
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export class AppserviceServer {
  private server: Server | null = null;
  private readonly tokenDigest: Buffer;
  private readonly provisionDigest: Buffer | null;
  private readonly maxBody: number;

  constructor(private readonly opts: AppserviceServerOptions, private readonly handlers: AppserviceHandlers) {
    this.tokenDigest = digest(opts.hsToken);
    this.provisionDigest = opts.provisioningSecret ? digest(opts.provisioningSecret) : null;
    this.maxBody = opts.maxBodyBytes ?? 32 * 1024 * 1024;
  }

  async listen(): Promise<number> {
    const server = createServer((req, res) => void this.route(req, res));
    server.keepAliveTimeout = 65_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.bind, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) {
      server.closeIdleConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    try {
      if (path === '/health' || path === '/health/ready' || path === '/health/live') {
        this.handleHealth(path, res);
        return;
      }
      if (path.startsWith('/_matrix/provision/')) {
        await this.handleProvision(path, req, res);
        return;
      }
      if (!path.startsWith('/_matrix/app/') && !path.startsWith('/transactions/') && !path.startsWith('/users/') &&
        !path.startsWith('/rooms/')) {
        throw new HttpError(404, 'M_UNRECOGNIZED', 'Unrecognized request');
      }
      this.checkToken(req, url);
      const p = path.replace(/^\/_matrix\/app\/v1/, '');
      let m: RegExpExecArray | null;
      if ((m = /^\/transactions\/([^/]+)$/.exec(p)) && req.method === 'PUT') {
        await this.handleTransaction(decodeURIComponent(m[1] as string), req, res);
      } else if ((m = /^\/users\/([^/]+)$/.exec(p)) && req.method === 'GET') {
        await this.answerExists(res, await this.handlers.queryUser(decodeURIComponent(m[1] as string)));
      } else if ((m = /^\/rooms\/([^/]+)$/.exec(p)) && req.method === 'GET') {
        await this.answerExists(res, await this.handlers.queryAlias(decodeURIComponent(m[1] as string)));
      } else if (p === '/ping' && req.method === 'POST') {
        await readBody(req, this.maxBody);
        send(res, 200, {});
      } else if ((m = /^\/thirdparty\/protocol\/([^/]+)$/.exec(p)) && req.method === 'GET') {
        const proto = this.handlers.thirdPartyProtocol(decodeURIComponent(m[1] as string));
        if (!proto) {
          throw new HttpError(404, 'M_NOT_FOUND', 'Unknown protocol');
        }
        send(res, 200, proto);
      } else if ((m = /^\/thirdparty\/(location|user)(?:\/([^/]+))?$/.exec(p)) && req.method === 'GET') {
        const protocol = m[2] ? decodeURIComponent(m[2]) : null;
        const fields = Object.fromEntries(url.searchParams.entries());
        delete fields.access_token;
        const result = m[1] === 'location'
          ? this.handlers.thirdPartyLocations(protocol, fields)
          : this.handlers.thirdPartyUsers(protocol, fields);
        if (result === null) {
          throw new HttpError(404, 'M_NOT_FOUND', 'Unknown protocol');
        }
        send(res, 200, await result);
      } else {
        throw new HttpError(404, 'M_UNRECOGNIZED', 'Unrecognized request');
      }
    } catch (err) {
      if (err instanceof HttpError) {
        send(res, err.status, { errcode: err.errcode, error: err.message });
      } else {
        log.error('appservice request failed', { path, err });
        send(res, 500, { errcode: 'M_UNKNOWN', error: 'Internal error' });
      }
    }
  }

  private checkToken(req: IncomingMessage, url: URL, expected: Buffer = this.tokenDigest, allowQuery = true): void {
    const header = req.headers.authorization;
    let token: string | null = null;
    if (header?.startsWith('Bearer ')) {
      token = header.slice(7);
    } else if (allowQuery && url.searchParams.has('access_token')) {
      token = url.searchParams.get('access_token');
    }
    if (token === null || token === '') {
      throw new HttpError(401, 'M_UNAUTHORIZED', 'Missing token');
    }
    if (!timingSafeEqual(digest(token), expected)) {
      throw new HttpError(403, 'M_FORBIDDEN', 'Bad token');
    }
  }

  // POST /_matrix/provision/v1/<action> with `Authorization: Bearer <secret>` and a JSON object
  private async handleProvision(path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const provision = this.handlers.provision;
    if (this.provisionDigest === null || !provision) {
      throw new HttpError(404, 'M_UNRECOGNIZED', 'Unrecognized request');
    }
    this.checkToken(req, new URL('http://localhost'), this.provisionDigest, false);
    const m = /^\/_matrix\/provision\/v1\/([a-z]+)$/.exec(path);
    if (!m || req.method !== 'POST') {
      throw new HttpError(404, 'M_UNRECOGNIZED', 'Unrecognized request');
    }
    const raw = await readBody(req, PROVISION_MAX_BODY);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new HttpError(400, 'M_NOT_JSON', 'Body is not JSON');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new HttpError(400, 'M_BAD_JSON', 'Body must be a JSON object');
    }
    const answer = await provision.call(this.handlers, m[1] as string, body as Record<string, unknown>);
    send(res, answer.status, answer.body);
  }

  private async handleTransaction(txnId: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const body = await readBody(req, this.maxBody);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new HttpError(400, 'M_NOT_JSON', 'Body is not JSON');
    }
    const obj = parsed as { events?: unknown; 'de.sorunome.msc2409.ephemeral'?: unknown; ephemeral?: unknown };
    if (typeof parsed !== 'object' || parsed === null || !Array.isArray(obj.events)) {
      throw new HttpError(400, 'M_BAD_JSON', 'Body must be an object with an "events" array');
    }
    const isNew = this.handlers.acceptTransaction(txnId, obj.events);
    send(res, 200, {});
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.handlers.observeTransaction?.(seconds, isNew ? 'accepted' : 'duplicate');
    log.debug('transaction accepted', { txn_id: txnId, events: obj.events.length, duplicate: !isNew });
    if (isNew) {
      try {
        this.handlers.afterTransaction();
      } catch (err) {
        // The events are stored; they will be handled at the latest on the next start.
        log.error('dispatching a stored transaction failed', { txn_id: txnId, err });
      }
    }
  }

  private async answerExists(res: ServerResponse, exists: boolean): Promise<void> {
    if (exists) {
      send(res, 200, {});
    } else {
      send(res, 404, { errcode: 'M_NOT_FOUND', error: 'Not found' });
    }
  }

  private handleHealth(path: string, res: ServerResponse): void {
    const h = this.handlers.health();
    if (path === '/health/live') {
      send(res, 200, { status: 'live' });
      return;
    }
    send(res, h.ready ? 200 : 503, { status: h.ready ? 'ready' : 'starting', ...h.detail });
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        // Keep reading (and dropping) so that the 413 reaches the client.
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => (tooLarge
      ? reject(new HttpError(413, 'M_TOO_LARGE', `Body larger than ${limit} bytes`))
      : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}
