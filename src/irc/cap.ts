/**
 * IRCv3 capability negotiation and SASL at registration (CAP LS 302, REQ, ACK/NAK, AUTHENTICATE,
 * CAP END). Pure protocol: lines go out through `write`, and what SASL came to is told through
 * the hooks. CAP END waits until SASL is settled (903, or a 90x failure), as the SASL
 * specification asks: a server may abort SASL when registration ends while it is in progress.
 *
 * Every wanted capability is asked for together with CAP LS, before the offer is known: the
 * server answers the LS first and then ACKs the whole request, or NAKs all of it when it lacks
 * one, and only then is the part of the offer this client wants asked for. Against a server
 * that has them all, that saves a round trip and a write per connection (thousands in a
 * reconnect storm).
 */

/** The SASL mechanism and credentials to use, or null for none. */
export type SaslPlan =
  | { mechanism: 'PLAIN'; account: string; password: string }
  | { mechanism: 'EXTERNAL' }
  | null;

export interface CapHooks {
  /** Writes one line at once (registration lines do not wait in the flood queue). */
  write(line: string): void;
  /** SASL cannot be tried: the server offers no SASL, or not the mechanism asked for. */
  saslUnavailable(reason: 'capability_missing' | 'unsupported_mechanism'): void;
  /** AUTHENTICATE has been sent: SASL is in progress until a 90x numeric settles it. */
  saslStarted(): void;
  /** When set, CAP END (which lets the server complete the registration) waits for this. */
  beforeEnd?: () => Promise<void>;
}

/** The most an AUTHENTICATE line carries (SASL 3.1): a longer payload is split in pieces of this. */
const AUTHENTICATE_CHUNK = 400;

export class CapNegotiation {
  /** Capabilities the server offers that this client wants, with their values ('' for none). */
  readonly offered = new Map<string, string>();
  readonly enabled = new Set<string>();
  private ended = false;
  /** The first REQ (everything wanted, sent with the LS) is not answered yet. */
  private optimistic = false;
  /** The whole CAP LS answer has come. */
  private offerWhole = false;
  /** 'idle' until SASL is asked for, 'asked' once AUTHENTICATE went, 'off' when it cannot be. */
  private sasl: 'idle' | 'asked' | 'off';

  constructor(private readonly wanted: ReadonlySet<string>, private readonly plan: SaslPlan,
    private readonly hooks: CapHooks) {
    this.sasl = plan === null ? 'off' : 'idle';
  }

  /** The first lines of registration. */
  start(): void {
    this.hooks.write('CAP LS 302');
    const want = [...this.wanted].filter((c) => c !== 'sasl' || this.sasl === 'idle');
    if (want.length > 0) {
      this.optimistic = true;
      this.hooks.write(`CAP REQ :${want.join(' ')}`);
    }
  }

  /** A CAP line: its parameters after the command (`<target> <subcommand> [*] :<caps>`).
   *  `registered`: 001 has come, so negotiation is over and only NEW and DEL matter. */
  onCap(params: readonly string[], registered: boolean): void {
    const sub = (params[1] ?? '').toUpperCase();
    const more = params.length > 3 && params[2] === '*'; // a multi-line LS: more lines follow
    const caps = (params[params.length - 1] ?? '').split(' ').filter((c) => c !== '');
    switch (sub) {
      case 'LS':
      case 'NEW':
        for (const cap of caps) {
          // Only what this client may ask for is kept: the offer is the server's to size.
          const eq = cap.indexOf('=');
          const name = eq < 0 ? cap : cap.slice(0, eq);
          if (this.wanted.has(name)) {
            this.offered.set(name, eq < 0 ? '' : cap.slice(eq + 1));
          }
        }
        if (sub === 'LS' && !more && !registered && !this.ended) {
          this.offerWhole = true;
          if (!this.optimistic) {
            this.request(); // nothing was wanted, or the first request is refused already
          }
        } else if (sub === 'NEW' && registered) {
          // Before 001 a CAP NEW is left alone: a new REQ would re-open negotiation, and servers
          // that hold registration during CAP (InspIRCd while services link) would then never
          // complete it. After 001 wanted capabilities are asked for (never SASL again).
          const wanted = caps.map(nameOf).filter((c) => c !== 'sasl' && this.wanted.has(c) && !this.enabled.has(c));
          if (wanted.length > 0) {
            this.hooks.write(`CAP REQ :${wanted.join(' ')}`);
          }
        }
        break;
      case 'ACK':
        for (const cap of caps) {
          if (cap.startsWith('-')) {
            this.enabled.delete(nameOf(cap));
          } else {
            this.enabled.add(nameOf(cap));
          }
        }
        if (!registered && !this.ended) {
          this.optimistic = false;
          this.afterAck();
        }
        break;
      case 'NAK':
        if (this.optimistic && !registered && !this.ended) {
          // The server lacks something of the first request: ask for what it offers (once the
          // offer is whole; a server answers the LS before the REQ).
          this.optimistic = false;
          if (this.offerWhole) {
            this.request();
          }
        } else if (!registered && !this.ended) {
          this.saslOff('capability_missing');
          this.end();
        }
        break;
      case 'DEL':
        for (const cap of caps) {
          this.offered.delete(nameOf(cap));
          this.enabled.delete(nameOf(cap));
        }
        break;
      default:
    }
  }

  /** AUTHENTICATE from the server: `+` asks for the payload. Returns false for anything else
   *  (this client uses no mechanism with a challenge). */
  onAuthenticate(param: string): boolean {
    if (param !== '+' || this.sasl !== 'asked' || this.plan === null) {
      return false;
    }
    if (this.plan.mechanism === 'EXTERNAL') {
      this.hooks.write('AUTHENTICATE +');
      return true;
    }
    const { account, password } = this.plan;
    const payload = Buffer.from(`${account}\0${account}\0${password}`, 'utf8').toString('base64');
    for (let at = 0; at < payload.length; at += AUTHENTICATE_CHUNK) {
      this.hooks.write(`AUTHENTICATE ${payload.slice(at, at + AUTHENTICATE_CHUNK)}`);
    }
    if (payload.length % AUTHENTICATE_CHUNK === 0) {
      this.hooks.write('AUTHENTICATE +'); // an empty last piece marks the end
    }
    return true;
  }

  /** Ends negotiation (once): SASL is settled, or was never tried. */
  end(): void {
    if (this.ended) {
      return;
    }
    this.ended = true;
    const gate = this.hooks.beforeEnd;
    if (gate) {
      void gate().then(() => this.hooks.write('CAP END'), () => this.hooks.write('CAP END'));
    } else {
      this.hooks.write('CAP END');
    }
  }

  private request(): void {
    const want = [...this.offered.keys()].filter((c) => this.wanted.has(c) && (c !== 'sasl' || this.sasl === 'idle'));
    if (!this.offered.has('sasl')) {
      this.saslOff('capability_missing');
    }
    if (want.length === 0) {
      this.end();
      return;
    }
    this.hooks.write(`CAP REQ :${want.join(' ')}`);
  }

  private afterAck(): void {
    if (this.sasl === 'idle' && this.plan !== null) {
      if (!this.enabled.has('sasl')) {
        this.saslOff('capability_missing');
      } else {
        const mechanisms = this.offered.get('sasl') ?? '';
        if (mechanisms === '' || mechanisms.toUpperCase().split(',').includes(this.plan.mechanism)) {
          this.sasl = 'asked';
          this.hooks.saslStarted();
          this.hooks.write(`AUTHENTICATE ${this.plan.mechanism}`);
          return; // CAP END once a 90x numeric settles it
        }
        this.saslOff('unsupported_mechanism');
      }
    }
    this.end();
  }

  private saslOff(reason: 'capability_missing' | 'unsupported_mechanism'): void {
    if (this.sasl === 'idle') {
      this.sasl = 'off';
      this.hooks.saslUnavailable(reason);
    }
  }
}

/** A capability's name without a modifier (`-` disables) or value. */
function nameOf(cap: string): string {
  const bare = cap.replace(/^[-~=]/, '');
  const eq = bare.indexOf('=');
  return eq < 0 ? bare : bare.slice(0, eq);
}
