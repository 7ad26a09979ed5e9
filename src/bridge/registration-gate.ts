/**
 * Registrations of a connect storm, completed together. InspIRCd (3) completes a registration
 * only in its once-a-second housekeeping, and relays every JOIN to every member of the channel
 * with one write per member per pass of its event loop. Puppets opened over several seconds
 * register over several ticks and then JOIN a few per pass: with 4000 puppets in one channel
 * that was about 27 writes per member, against 6 when all register in the same tick
 * (docs/performance.md). So while many puppets are still opening their connections, one that
 * has finished its capability negotiation holds its CAP END (the server cannot complete the
 * registration before it) until fewer than `minOpening` are still opening, or for at most
 * `maxHoldMs`; then all held connections send it together. Outside a storm nothing waits.
 */
export class RegistrationGate {
  /** Connections opening (not yet at CAP END, not failed). */
  private opening = 0;
  private waiting: Array<() => void> = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly minOpening: number, private readonly maxHoldMs: number) {}

  /**
   * A connection starts opening. Returns its gate (CAP END waits for it) and `leave` for a
   * connection that fails before it gets there (both may be called; each counts once).
   */
  enter(): { gate: () => Promise<void>; leave: () => void } {
    this.opening++;
    let left = false;
    const leave = (): void => {
      if (!left) {
        left = true;
        this.opening--;
        if (this.opening < this.minOpening) {
          this.release(); // the storm is over: nobody waits for the timer
        }
      }
    };
    const gate = (): Promise<void> => {
      leave();
      if (this.opening < this.minOpening && this.waiting.length === 0) {
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        this.waiting.push(resolve);
        if (this.timer === null) {
          this.timer = setTimeout(() => this.release(), this.maxHoldMs);
        }
      });
    };
    return { gate, leave };
  }

  /** How many connections hold their CAP END now. */
  get held(): number {
    return this.waiting.length;
  }

  /** Lets every held connection go. */
  release(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const waiting = this.waiting;
    this.waiting = [];
    waiting.forEach((go) => go());
  }
}
