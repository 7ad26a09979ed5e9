/**
 * How one connection identifies to services, and what came of it: SASL at registration (the
 * plan for CapNegotiation, then the 90x numerics that settle it), or NickServ IDENTIFY once
 * registered when SASL was not used and a password is known. Each outcome is told once, as an
 * `auth` event; credentials never appear in it.
 */
import type { IrcEventOf } from './events';
import type { SaslPlan } from './cap';

/**
 * How a connection identifies, from the configured mode and the user's stored credentials. With
 * a client certificate (over TLS) SASL EXTERNAL is used, else SASL PLAIN with the password; when
 * the server offers no SASL (or `mode` is 'nickserv'), the password goes to NickServ IDENTIFY
 * once registered.
 */
export interface IrcAuth {
  mode: 'auto' | 'sasl' | 'nickserv';
  /** The account; null: the nick (NickServ) or the account the server derives (EXTERNAL). */
  account: string | null;
  password: string | null;
  clientCert: { certificate: string; privateKey: string } | null;
}

/** How long a NickServ IDENTIFY may go unanswered before it counts as failed. */
const NICKSERV_TIMEOUT_MS = 30_000;
const NICKSERV_OK = /you are now (identified|logged in|recognized)|password accepted|now identified/i;
const NICKSERV_FAIL = /invalid password|incorrect password|password incorrect|not registered|isn't registered|authentication failed|access denied|failed to identify|unknown account|too many failed|frozen|suspended/i;

export interface IdentificationHooks {
  /** The connection's nick now (the account a NickServ success names when none is configured). */
  nick(): string;
  /** Queues a PRIVMSG to NickServ (through the flood queue). */
  privmsg(target: string, text: string): void;
  told(e: IrcEventOf<'auth'>): void;
}

export class Identification {
  /** The SASL mechanism asked for at this registration, null when none. */
  private mechanism: 'PLAIN' | 'EXTERNAL' | null = null;
  /** SASL so far: 'pending' from AUTHENTICATE until a 90x numeric settles it. */
  private sasl: 'none' | 'pending' | 'done' = 'none';
  /** The account from 900 while SASL is pending, reported with the 903. */
  private loggedInAccount: string | null = null;
  /** The mechanisms the server listed (908), named when SASL fails. */
  private serverMechanisms: string | null = null;
  /** NickServ IDENTIFY sent, waiting for its answer, until this timer fires. */
  private nickservTimer: NodeJS.Timeout | null = null;

  /** `configuredNick`: the account SASL PLAIN names when none is configured. */
  constructor(private readonly auth: IrcAuth | null, private readonly tls: boolean,
    private readonly configuredNick: string, private readonly hooks: IdentificationHooks) {}

  /** The SASL mechanism and credentials for this connection, if any: EXTERNAL with a client
   *  certificate over TLS, else PLAIN with the password. */
  plan(): SaslPlan {
    const auth = this.auth;
    if (!auth || auth.mode === 'nickserv') {
      return null;
    }
    if (auth.clientCert && this.tls) {
      this.mechanism = 'EXTERNAL';
      return { mechanism: 'EXTERNAL' };
    }
    if (auth.password !== null) {
      this.mechanism = 'PLAIN';
      return { mechanism: 'PLAIN', account: auth.account ?? this.configuredNick, password: auth.password };
    }
    return null;
  }

  /** AUTHENTICATE has gone: SASL is in progress. */
  saslStarted(): void {
    this.sasl = 'pending';
  }

  /** 908 RPL_SASLMECHS. */
  set mechanisms(list: string | null) {
    this.serverMechanisms = list;
  }

  /** Whether a NickServ IDENTIFY waits for its answer (its notices are not conversation). */
  get waitingForNickServ(): boolean {
    return this.nickservTimer !== null;
  }

  /** 900 RPL_LOGGEDIN: with SASL its account is reported with the 903; after a NickServ
   *  IDENTIFY it settles that. */
  loggedIn(account: string): void {
    if (this.sasl === 'pending') {
      this.loggedInAccount = account;
    } else if (this.nickservTimer) {
      this.settleNickServ(true, account, '');
    }
  }

  /** A 90x numeric (or a step this bridge cannot answer) settles SASL. */
  settleSasl(ok: boolean, text: string): void {
    if (this.sasl !== 'pending' || this.mechanism === null) {
      return;
    }
    this.sasl = 'done';
    this.hooks.told({ type: 'auth', ok, mechanism: this.mechanism,
      account: ok ? this.loggedInAccount ?? this.auth?.account ?? null : null, reason: ok ? '' : text });
  }

  /** A SASL failure's words, with the mechanisms the server offers when it said. */
  failureText(text: string, numeric: string): string {
    return `${text} (${numeric})` + (this.serverMechanisms ? `; the server offers ${this.serverMechanisms}` : '');
  }

  /** SASL was not tried: the server offers no SASL, or not our mechanism. */
  unavailable(reason: 'capability_missing' | 'unsupported_mechanism'): void {
    const auth = this.auth;
    const canNickServ = auth?.mode === 'auto' && auth.password !== null;
    this.sasl = 'done';
    if (!canNickServ && this.mechanism) {
      this.hooks.told({ type: 'auth', ok: false, mechanism: this.mechanism, account: null,
        reason: reason === 'capability_missing' ? 'the server offers no SASL'
          : `the server does not offer SASL ${this.mechanism}${this.serverMechanisms ? ` (only ${this.serverMechanisms})` : ''}` });
    } else {
      this.mechanism = null; // NickServ once registered
    }
  }

  /** 001: SASL that never started counts as unavailable; then NickServ, when it is the way. */
  registered(): void {
    if (this.mechanism !== null && this.sasl === 'none') {
      this.unavailable('capability_missing'); // the server never acknowledged sasl
    }
    this.identifyToNickServ();
  }

  /** A NOTICE from NickServ while IDENTIFY waits: does it say yes or no? */
  nickServNotice(text: string): void {
    const plain = text.replace(/[\x02\x0f\x16\x1d\x1f]|\x03\d{0,2}(,\d{1,2})?/g, '');
    if (NICKSERV_OK.test(plain)) {
      this.settleNickServ(true, this.auth?.account ?? null, '');
    } else if (NICKSERV_FAIL.test(plain)) {
      this.settleNickServ(false, null, plain);
    }
  }

  /** 401 for NickServ: the network has none. */
  noNickServ(): void {
    this.settleNickServ(false, null, 'there is no NickServ on this network (401)');
  }

  /** The connection is gone: nothing more will be settled. */
  close(): void {
    if (this.nickservTimer) {
      clearTimeout(this.nickservTimer);
      this.nickservTimer = null;
    }
  }

  /** After registration: IDENTIFY to NickServ when SASL was not used and a password is known. */
  private identifyToNickServ(): void {
    const auth = this.auth;
    if (auth && auth.password === null && auth.clientCert !== null && !this.tls && auth.mode !== 'nickserv') {
      this.hooks.told({ type: 'auth', ok: false, mechanism: 'EXTERNAL', account: null,
        reason: 'a client certificate can only be used over TLS, and this network is configured without it' });
      return;
    }
    if (!auth || auth.password === null || this.mechanism !== null || auth.mode === 'sasl') {
      return;
    }
    const params = auth.account ? [auth.account, auth.password] : [auth.password];
    if (params.some((x) => /[\s\r\n\0]/.test(x) || x === '')) {
      this.hooks.told({ type: 'auth', ok: false, mechanism: 'NICKSERV', account: null,
        reason: 'the account or password contains a space or line break, which NickServ IDENTIFY cannot carry' });
      return;
    }
    this.nickservTimer = setTimeout(() => this.settleNickServ(false, null, 'NickServ did not answer'), NICKSERV_TIMEOUT_MS);
    this.nickservTimer.unref();
    this.hooks.privmsg('NickServ', `IDENTIFY ${params.join(' ')}`);
  }

  private settleNickServ(ok: boolean, account: string | null, reason: string): void {
    if (!this.nickservTimer) {
      return;
    }
    clearTimeout(this.nickservTimer);
    this.nickservTimer = null;
    this.hooks.told({ type: 'auth', ok, mechanism: 'NICKSERV', account: ok ? account || this.auth?.account || this.hooks.nick() : null, reason });
  }
}
