/** The homeserver client's HTTP sender (node:http over kept-alive connections). */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHttpSend } from '../../src/matrix/http';

interface Seen { method: string; url: string; headers: http.IncomingHttpHeaders; body: string; socket: Socket }

describe('createHttpSend', () => {
  let server: http.Server;
  let seen: Seen[];
  let answer: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  let base: string;

  beforeEach(async () => {
    seen = [];
    answer = (_req, res): void => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":"é"}');
    };
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'),
          socket: req.socket });
        answer(req, res);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  test('sends method, path with query, headers and a UTF-8 body with its byte length; reads status and UTF-8 text', async () => {
    const send = createHttpSend();
    const body = JSON.stringify({ body: 'héllo ✓' });
    const res = await send(new URL(`${base}/_matrix/client/v3/rooms/!r%3Ahs/send/m.room.message/t1?user_id=%40a%3Ahs`),
      { method: 'PUT', headers: { authorization: 'Bearer tok', 'content-type': 'application/json' }, body }, 5000);
    expect(res).toEqual({ status: 200, text: '{"ok":"é"}' });
    expect(seen[0]).toMatchObject({ method: 'PUT', url: '/_matrix/client/v3/rooms/!r%3Ahs/send/m.room.message/t1?user_id=%40a%3Ahs', body });
    expect(seen[0]?.headers).toMatchObject({ authorization: 'Bearer tok', 'content-length': String(Buffer.byteLength(body)) });
  });

  test('error statuses are answers, not failures', async () => {
    answer = (_req, res): void => {
      res.writeHead(429, { 'content-type': 'application/json' });
      res.end('{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":5}');
    };
    await expect(createHttpSend()(new URL(`${base}/x`), { method: 'GET', headers: {} }, 5000))
      .resolves.toEqual({ status: 429, text: '{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":5}' });
  });

  test('one connection serves requests one after another (kept alive)', async () => {
    const send = createHttpSend();
    for (let i = 0; i < 3; i++) {
      await send(new URL(`${base}/n${i}`), { method: 'GET', headers: {} }, 5000);
    }
    expect(seen.map((s) => s.url)).toEqual(['/n0', '/n1', '/n2']);
    expect(new Set(seen.map((s) => s.socket)).size).toBe(1);
  });

  test('no answer in time: rejects, and the request is abandoned (its connection closed)', async () => {
    answer = (): void => undefined; // never answers
    const send = createHttpSend();
    const started = Date.now();
    await expect(send(new URL(`${base}/slow`), { method: 'GET', headers: {} }, 150)).rejects.toThrow('no answer within 150 ms');
    expect(Date.now() - started).toBeLessThan(1000);
    await new Promise<void>((r) => (seen[0]?.socket.destroyed ? r() : seen[0]?.socket.once('close', () => r())));
  });

  test('a connection refused or cut mid-answer rejects', async () => {
    const send = createHttpSend();
    answer = (req): void => {
      req.socket.destroy();
    };
    await expect(send(new URL(`${base}/cut`), { method: 'GET', headers: {} }, 5000)).rejects.toThrow();
    const port = (server.address() as AddressInfo).port;
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await expect(send(new URL(`http://127.0.0.1:${port}/gone`), { method: 'GET', headers: {} }, 5000)).rejects.toThrow(/ECONNREFUSED/);
    server.listen(0, '127.0.0.1'); // for afterEach
  });

  test('only http and https', async () => {
    await expect(createHttpSend()(new URL('ftp://127.0.0.1/x'), { method: 'GET', headers: {} }, 1000))
      .rejects.toThrow('unsupported protocol ftp:');
  });

  test('https verifies the server certificate (a self-signed one is refused)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'http-send-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=127.0.0.1'],
      { stdio: 'ignore', timeout: 10_000 });
      const tlsServer = https.createServer({ key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) },
        (_req, res) => res.end('{}'));
      await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
      try {
        const port = (tlsServer.address() as AddressInfo).port;
        await expect(createHttpSend()(new URL(`https://127.0.0.1:${port}/x`), { method: 'GET', headers: {} }, 5000))
          .rejects.toThrow(/self[- ]signed/i);
      } finally {
        tlsServer.closeAllConnections();
        await new Promise((r) => tlsServer.close(r));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
