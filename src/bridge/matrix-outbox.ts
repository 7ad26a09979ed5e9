/**
 * The IRC -> Matrix direction's delivery guarantee. What the bridge reads from IRC is stored
 * first, then delivered to the homeserver in order per room; an item leaves the store only once
 * the homeserver accepted it. While the homeserver is down or answers errors, each room waits
 * on its oldest item, retrying with backoff (rate limits honour retry_after_ms in the client),
 * so order is kept and nothing is lost, across restarts too.
 */
import type { NetworkId, RoomId, UserId } from '../ids';
import { getLogger } from '../log';
import { MatrixApiError } from '../matrix/client';
import type { BridgeContext } from './context';

const log = getLogger('bridge.outbox');

/** One thing read from IRC for one room. Ghost user IDs are resolved when the line is read, so
 *  a later nick change cannot redirect an item to another ghost. */
export type OutboxItem =
  | { kind: 'message'; userId: UserId; nick: string; content: Record<string, unknown>; ts: number }
  | { kind: 'join'; userId: UserId; nick: string }
  | { kind: 'leave'; userId: UserId; reason: string }
  /** The ghost's IRC user changed nick: its display name follows. */
  | { kind: 'rename'; userId: UserId; nick: string }
  /** After NAMES: ghosts in the room that are not in `keep` leave. */
  | { kind: 'sync'; keep: UserId[] }
  /** An IRC user set the channel topic. */
  | { kind: 'topic'; userId: UserId; nick: string; topic: string }
  /** IRC kicked a Matrix user's puppet: the Matrix user leaves the room too. */
  | { kind: 'kick'; userId: UserId; channel: string; by: string; reason: string }
  /** An IRC ban (or its removal) that matches one bridged Matrix user's puppet. */
  | { kind: 'ban'; userId: UserId; channel: string; by: string; mask: string }
  | { kind: 'unban'; userId: UserId; channel: string; by: string; mask: string }
  /** Ghost power levels from channel statuses (null: back to `users_default`), batched. */
  | { kind: 'power_levels'; users: Record<string, number | null> }
  /** Room rules from channel modes; a rule left out did not change. */
  | { kind: 'room_rules'; channel: string; inviteOnly?: boolean; moderated?: boolean; secret?: boolean };

/** `txnId` is the same for every attempt at one stored item, across restarts too. */
export type Deliver = (network: NetworkId, roomId: RoomId, item: OutboxItem, txnId: string) => Promise<void>;

/** The homeserver transaction ID of a stored item: its row number, which is never reused in one
 *  database, and the time it was stored, which tells a new database's row 1 from an old one's. */
export function outboxTxnId(seq: number, createdAt: number): string {
  return `mib.o.${createdAt.toString(36)}.${seq.toString(36)}`;
}

/** Homeserver answers worth waiting out; anything else will not get better by retrying. */
export function isTransient(err: unknown): boolean {
  return err instanceof MatrixApiError && (err.status === 0 || err.status === 429 || err.status >= 500);
}

const BATCH = 50;
const MAX_FAULTS = 3;

export class MatrixOutbox {
  private readonly running = new Map<string, Promise<void>>();
  private stopped = true;
  private readonly wakers = new Set<() => void>();

  constructor(
    private readonly ctx: BridgeContext,
    private readonly deliver: Deliver,
    private readonly maxDelayMs: number,
  ) {}

  /** Stores `item` and starts delivering its room's queue if it is not running. */
  push(network: NetworkId, roomId: RoomId, item: OutboxItem): void {
    this.ctx.store.enqueueOutbox(network, roomId, item);
    this.ctx.metrics.outboxDepth.inc();
    this.kick(roomId);
  }

  /** Delivers what a previous run left in the store. */
  start(): void {
    this.stopped = false;
    this.ctx.metrics.outboxDepth.set(this.ctx.store.countOutbox());
    for (const roomId of this.ctx.store.listOutboxRooms()) {
      this.kick(roomId);
    }
  }

  /** Stops after the item in flight; the rest stays stored for the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wakers.forEach((w) => w());
    await Promise.all(this.running.values());
  }

  /** Resolves when every room's queue is empty (tests, benchmarks). */
  async idle(): Promise<void> {
    while (this.running.size > 0) {
      await Promise.all(this.running.values());
    }
  }

  private kick(roomId: RoomId): void {
    if (this.stopped || this.running.has(roomId)) {
      return;
    }
    const run = this.drain(roomId).finally(() => {
      this.running.delete(roomId);
      // An item pushed while the loop was finishing must not wait for the next push.
      if (!this.stopped && this.ctx.store.listOutbox(roomId, 1).length > 0) {
        this.kick(roomId);
      }
    });
    this.running.set(roomId, run);
  }

  private async drain(roomId: RoomId): Promise<void> {
    for (;;) {
      const rows = this.ctx.store.listOutbox(roomId, BATCH);
      if (rows.length === 0 || this.stopped) {
        return;
      }
      for (const row of rows) {
        if (!(await this.deliverOne(row.network, roomId, row.item as OutboxItem, outboxTxnId(row.seq, row.createdAt)))) {
          return; // stopping
        }
        this.ctx.store.deleteOutbox(row.seq);
        this.ctx.metrics.outboxDepth.dec();
      }
    }
  }

  /** Delivers one item, waiting out transient failures. Returns false when stopped first. */
  private async deliverOne(network: NetworkId, roomId: RoomId, item: OutboxItem, txnId: string): Promise<boolean> {
    let delay = 1000;
    for (let faults = 0; ;) {
      if (this.stopped) {
        return false;
      }
      try {
        await this.deliver(network, roomId, item, txnId);
        return true;
      } catch (err) {
        if (!isTransient(err) && ++faults >= (err instanceof MatrixApiError ? 1 : MAX_FAULTS)) {
          log.error('item from IRC could not be delivered to Matrix; dropped', {
            network, room_id: roomId, kind: item.kind, err: (err as Error).message,
          });
          if (item.kind === 'message') {
            this.ctx.metrics.message('irc_to_matrix', 'failed');
          }
          return true;
        }
        this.ctx.metrics.outboxRetries.inc();
        log.warn('homeserver did not accept an item from IRC; retrying', {
          network, room_id: roomId, kind: item.kind, err: (err as Error).message, retry_ms: delay,
        });
        await this.sleep(delay);
        delay = Math.min(this.maxDelayMs, delay * 2);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }
}
