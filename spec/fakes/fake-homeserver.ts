/**
 * A recording fake homeserver for client-server API specs. Every request is recorded (method,
 * path, query, headers, body, arrival time); answers are scripted per route as a queue whose
 * last answer repeats. Unscripted requests get 404 M_UNRECOGNIZED.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** The path as sent (still percent-encoded). */
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** The body parsed as JSON, or undefined when empty or not JSON. */
  body: unknown;
  rawBody: string;
  /** Date.now() when the request arrived. */
  at: number;
}

export interface Answer {
  status: number;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as is (text/plain) instead of `body`. */
  rawBody?: string;
  /** Answer this many ms after the request arrived (a slow homeserver). */
  delayMs?: number;
}

interface Route {
  method: string;
  path: string | RegExp;
  answers: Answer[];
}

export class FakeHomeserver {
  readonly requests: RecordedRequest[] = [];
  private readonly routes: Route[] = [];
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://localhost');
        const rawBody = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = rawBody ? JSON.parse(rawBody) : undefined;
        } catch {
          body = undefined;
        }
        const method = req.method ?? 'GET';
        this.requests.push({
          method, path: url.pathname, query: Object.fromEntries(url.searchParams.entries()),
          headers: req.headers, body, rawBody, at: Date.now(),
        });
        const answer = this.next(method, url.pathname);
        const reply = (): void => {
          if (answer.rawBody !== undefined) {
            res.writeHead(answer.status, { 'content-type': 'text/plain' });
            res.end(answer.rawBody);
          } else {
            const data = JSON.stringify(answer.body ?? {});
            res.writeHead(answer.status, { 'content-type': 'application/json' });
            res.end(data);
          }
        };
        if (answer.delayMs) {
          setTimeout(reply, answer.delayMs);
        } else {
          reply();
        }
      });
    });
  }

  /** Scripts the answers for `method path`: one per request, the last one repeating. */
  on(method: string, path: string | RegExp, ...answers: Answer[]): this {
    if (answers.length === 0) {
      throw new Error('fake homeserver: a route needs at least one answer');
    }
    this.routes.push({ method, path, answers: [...answers] });
    return this;
  }

  /** Like `on`, but takes precedence over every route scripted before. */
  override(method: string, path: string | RegExp, ...answers: Answer[]): this {
    this.on(method, path, ...answers);
    this.routes.unshift(this.routes.pop() as Route);
    return this;
  }

  /** Requests recorded for `method` whose path matches. */
  requestsTo(method: string, path: string | RegExp): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && matches(path, r.path));
  }

  /** Listens on 127.0.0.1, a port the kernel picks; returns the base URL. */
  listen(): Promise<string> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        resolve(`http://127.0.0.1:${(this.server.address() as AddressInfo).port}`);
      });
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private next(method: string, path: string): Answer {
    const route = this.routes.find((r) => r.method === method && matches(r.path, path));
    if (!route) {
      return { status: 404, body: { errcode: 'M_UNRECOGNIZED', error: `fake homeserver: no route for ${method} ${path}` } };
    }
    return (route.answers.length > 1 ? route.answers.shift() : route.answers[0]) as Answer;
  }
}

function matches(pattern: string | RegExp, path: string): boolean {
  return typeof pattern === 'string' ? pattern === path : pattern.test(path);
}
