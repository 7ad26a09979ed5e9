// Typings for the parts of irc-framework 4.14 that src/irc/ uses. irc-framework ships none.
declare module 'irc-framework' {
  import { EventEmitter } from 'node:events';

  export interface IrcMessage {
    tags: Record<string, string>;
    prefix: string;
    nick: string;
    ident: string;
    hostname: string;
    command: string;
    params: string[];
  }

  export interface ClientOptions {
    host: string;
    port: number;
    tls?: boolean;
    rejectUnauthorized?: boolean;
    password?: string;
    nick: string;
    username?: string;
    gecos?: string;
    encoding?: string;
    version?: string | null;
    enable_chghost?: boolean;
    enable_setname?: boolean;
    enable_echomessage?: boolean;
    auto_reconnect?: boolean;
    ping_interval?: number;
    ping_timeout?: number;
    outgoing_addr?: string;
    account?: { account: string; password: string } | Record<string, never>;
    sasl_mechanism?: string;
  }

  export type RawMiddleware = (
    command: string,
    message: IrcMessage,
    rawLine: string,
    client: Client,
    next: (err?: unknown) => void,
  ) => void;

  export interface MiddlewareHandler {
    use(fn: RawMiddleware): void;
  }

  export interface NetworkInfo {
    options: Record<string, unknown> & { PREFIX?: Array<{ symbol: string; mode: string }> };
    cap: { enabled: string[]; isEnabled(cap: string): boolean };
    supports(feature: string): unknown;
  }

  export class Client extends EventEmitter {
    constructor(options?: Partial<ClientOptions>);
    user: { nick: string; username: string; host: string };
    network: NetworkInfo;
    connected: boolean;
    connection: { connected: boolean; write(data: string): void; end(data?: string, hadError?: boolean): void };
    connect(options?: ClientOptions): void;
    quit(message?: string): void;
    raw(line: string): void;
    requestCap(cap: string | string[]): void;
    use(fn: (client: Client, raw: MiddlewareHandler, parsed: MiddlewareHandler) => void): this;
    changeNick(nick: string): void;
  }
}

// irc-framework's TCP/TLS transport, subclassed by src/irc/transport.ts.
declare module 'irc-framework/src/transports/net' {
  import { EventEmitter } from 'node:events';

  class NetTransport extends EventEmitter {
    constructor(options: unknown);
    encoding: string;
    options: Record<string, unknown>;
    socket: import('node:net').Socket | null;
    state: number;
    requested_disconnect: boolean;
    incoming_buffer: Buffer;
    connect(): void;
    disposeSocket(): void;
    setEncoding(encoding: string): boolean;
    getAddressFamily(address: unknown): number | undefined;
    debugOut(text: string): void;
    _onSocketCreate(options: Record<string, unknown>, socket: import('node:net').Socket): void;
    onSocketData(data: Buffer): void;
    isConnected(): boolean;
    writeLine(line: string, cb?: () => void): void;
  }
  export = NetTransport;
}
