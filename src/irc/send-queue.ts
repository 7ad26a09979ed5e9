/**
 * Per-connection flood control: a token bucket. Up to `burst` lines go at once, then one line
 * every 1/`rate` seconds. Protocol replies (PONG and the like) never wait here: the connection
 * writes them directly.
 */
export interface SendQueueOptions {
  burst: number;
  rate: number; // lines per second
  /** Maximum lines waiting; beyond this `push` refuses. */
  maxQueued?: number;
  now?: () => number;
}

export class SendQueue {
  private readonly queue: Array<{ line: string; done?: (written: boolean) => void }> = [];
  private tokens: number;
  private last: number;
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;
  private readonly maxQueued: number;

  constructor(
    private readonly opts: SendQueueOptions,
    private readonly write: (line: string) => void,
  ) {
    this.tokens = opts.burst;
    this.now = opts.now ?? Date.now;
    this.last = this.now();
    this.maxQueued = opts.maxQueued ?? 10_000;
  }

  get length(): number {
    return this.queue.length;
  }

  /** Is there room for `n` more lines? */
  hasRoom(n: number): boolean {
    return this.queue.length + n <= this.maxQueued;
  }

  /** Queues one line; returns false when the queue is full (the caller reports the loss).
   *  `done` is called with true once the line is written, or false if it is dropped first. */
  push(line: string, done?: (written: boolean) => void): boolean {
    if (this.queue.length >= this.maxQueued) {
      return false;
    }
    this.queue.push({ line, done });
    this.drain();
    return true;
  }

  /** Drops everything still waiting (the connection is gone). */
  clear(): number {
    const dropped = this.queue.splice(0);
    const n = dropped.length;
    dropped.forEach((item) => item.done?.(false));
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    return n;
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.opts.burst, this.tokens + ((t - this.last) / 1000) * this.opts.rate);
    this.last = t;
  }

  private drain(): void {
    if (this.timer) {
      return;
    }
    this.refill();
    while (this.queue.length > 0 && this.tokens >= 1) {
      this.tokens -= 1;
      const item = this.queue.shift() as { line: string; done?: (written: boolean) => void };
      this.write(item.line);
      item.done?.(true);
    }
    if (this.queue.length > 0) {
      const waitMs = Math.max(1, Math.ceil(((1 - this.tokens) / this.opts.rate) * 1000));
      this.timer = setTimeout(() => {
        this.timer = null;
        this.drain();
      }, waitMs);
    }
  }
}
