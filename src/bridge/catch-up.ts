/**
 * Catching up from room history. A homeserver can fail to hand the bridge an event it accepted:
 * Synapse loses what it had not yet pushed when it stops, and can skip a transaction while its
 * appservice recoverer finishes. After such a moment (the bridge starting, a gap or reset in
 * transaction IDs, the homeserver coming back after an outage) the bridge reads the recent
 * timeline of every bridged room and accepts, through the same path as a transaction, the events
 * it never saw. Event IDs already accepted are left out by the store, so nothing is handled twice.
 */
import type { RoomId } from '../ids';
import { getLogger } from '../log';
import type { BridgeContext } from './context';

const log = getLogger('bridge.catch-up');

/** Timestamps of events from other servers can be off by this much; the window starts earlier. */
const CLOCK_SLACK_MS = 5 * 60_000;
const PAGE_SIZE = 100;
/** At most this many pages per room and run: a bound on the work, not on correctness. */
const MAX_PAGES = 10;
/** Rooms read at once. */
const CONCURRENCY = 4;

export interface CatchUpOptions {
  /** How far back a catch-up reads (ms); 0 turns catching up off. */
  maxAgeMs: number;
  /** The bridged rooms to read. */
  rooms: () => RoomId[];
  /** True for the bot and the ghosts: their events came from IRC, nothing to carry back. */
  isOurs: (userId: string) => boolean;
  /** Accepts events as if a transaction had brought them, leaving out known ones; returns how
   *  many were new. */
  accept: (label: string, events: unknown[]) => number;
  /** Called after every run, whatever it found. */
  done?: () => void;
  /** Called as each room of a run has been read (whether or not it found anything, or the read
   *  failed), unless another run has been asked for since this one began: from then on, that
   *  room's events need not wait for the rest of the run. */
  roomDone?: (roomId: RoomId) => void;
}

interface TimelineEvent {
  event_id?: unknown;
  sender?: unknown;
  origin_server_ts?: unknown;
  room_id?: unknown;
}

export class CatchUp {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private pending: string[] = [];
  private stopped = false;
  /** Rooms with events waiting for them: read before the others (in the run due or running). */
  private readonly hurried = new Set<RoomId>();

  constructor(private readonly ctx: BridgeContext, private readonly opts: CatchUpOptions) {}

  get enabled(): boolean {
    return this.opts.maxAgeMs > 0;
  }

  /** Asks for a catch-up in `delayMs` (requests in the meantime are folded into one run). */
  request(reason: string, delayMs: number): void {
    if (!this.enabled || this.stopped) {
      return;
    }
    this.pending.push(reason);
    if (this.timer) {
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.run();
    }, delayMs);
    this.timer.unref();
  }

  /** Runs now (after a run in progress, if any); resolves when done. */
  async run(): Promise<void> {
    while (this.running) {
      await this.running;
    }
    if (this.stopped || this.pending.length === 0) {
      return;
    }
    const reasons = [...new Set(this.pending.splice(0))];
    this.running = this.runOnce(reasons).finally(() => {
      this.running = null;
      if (!this.timer) {
        this.opts.done?.(); // no further run is due
      }
    });
    await this.running;
  }

  /** Events of `roomId` wait for the catch-up: read it before rooms nobody waits for. */
  hurry(roomId: RoomId): void {
    if (this.enabled && !this.stopped) {
      this.hurried.add(roomId);
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** Waits for a run in progress. */
  async idle(): Promise<void> {
    await this.running;
  }

  private async runOnce(reasons: string[]): Promise<void> {
    const started = Date.now();
    const rooms = this.opts.rooms();
    const unread = new Set(rooms);
    let found = 0;
    let failed = 0;
    let next = 0;
    // Rooms someone's events wait for first, then the rest in order.
    const take = (): RoomId | undefined => {
      for (const roomId of this.hurried) {
        this.hurried.delete(roomId);
        if (unread.delete(roomId)) {
          return roomId;
        }
      }
      while (next < rooms.length) {
        const roomId = rooms[next++] as RoomId;
        if (unread.delete(roomId)) {
          return roomId;
        }
      }
      return undefined;
    };
    const worker = async (): Promise<void> => {
      for (let roomId = take(); roomId !== undefined && !this.stopped; roomId = take()) {
        try {
          found += await this.catchUpRoom(roomId, started);
        } catch (err) {
          failed++;
          log.warn('could not read room history to catch up', { room_id: roomId, err: (err as Error).message });
        }
        if (this.pending.length === 0 && !this.timer && !this.stopped) {
          this.opts.roomDone?.(roomId);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, unread.size) }, worker));
    const fields = { reasons: reasons.join(', '), rooms: rooms.length, missed_events: found, failed_rooms: failed,
      ms: Date.now() - started };
    if (found > 0 || failed > 0) {
      log.warn('caught up with events the homeserver had not sent', fields);
    } else {
      log.info('catch-up found nothing missed', fields);
    }
    this.ctx.metrics.catchUpEvents.inc(found);
  }

  /** Reads one room back to where the bridge's knowledge of it ends; returns events accepted. */
  private async catchUpRoom(roomId: RoomId, now: number): Promise<number> {
    const lastSeen = this.ctx.store.lastSeenEventTs(roomId);
    if (lastSeen === null) {
      return 0; // nothing accepted from this room yet: no point to resume from
    }
    const floor = Math.max(now - this.opts.maxAgeMs, lastSeen - CLOCK_SLACK_MS);
    const newestFirst: TimelineEvent[] = [];
    let from: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const res = await this.ctx.matrix.roomMessages(roomId, { dir: 'b', from, limit: PAGE_SIZE }, this.ctx.botUserId);
      let older = false;
      for (const raw of res.chunk) {
        const ev = raw as TimelineEvent;
        const ts = typeof ev.origin_server_ts === 'number' ? ev.origin_server_ts : 0;
        if (ts < floor) {
          older = true;
          break;
        }
        newestFirst.push(ev);
      }
      if (older || res.chunk.length === 0 || res.end === undefined || res.end === from) {
        break;
      }
      from = res.end;
    }
    const candidates = newestFirst.reverse().filter((ev) =>
      typeof ev.event_id === 'string' && typeof ev.sender === 'string' && !this.opts.isOurs(ev.sender))
      .map((ev) => ({ ...ev, room_id: roomId }));
    if (candidates.length === 0) {
      return 0;
    }
    return this.opts.accept(`catch-up:${roomId}:${now}`, candidates);
  }
}
