/**
 * At most `limit` events per key in any `windowMs`: what IRC users may make the bridge do to
 * Matrix users (open direct chats, carry invites) without flooding them. Keys with nothing
 * recent are forgotten, so the map holds only the keys active within the window.
 */
export class RateWindow {
  private readonly recent = new Map<string, number[]>();

  constructor(private readonly limit: number, private readonly windowMs: number) {}

  /** Counts one event for `key` and returns true, or returns false when the key is at its limit. */
  take(key: string, now = Date.now()): boolean {
    const times = (this.recent.get(key) ?? []).filter((t) => now - t < this.windowMs);
    if (times.length >= this.limit) {
      this.recent.set(key, times);
      return false;
    }
    times.push(now);
    this.recent.set(key, times);
    if (this.recent.size > 1000) {
      this.prune(now);
    }
    return true;
  }

  private prune(now: number): void {
    for (const [key, times] of this.recent) {
      if (times.every((t) => now - t >= this.windowMs)) {
        this.recent.delete(key);
      }
    }
  }
}
