/**
 * Channel status <-> Matrix power level, and the rules of `m.room.power_levels` the bridge
 * must respect when it writes one. Pure: plain data in, plain data out.
 */

/** `prefix_power_levels`: the level of each status mode letter. */
export type PrefixLevels = Readonly<Record<string, number>>;

/** Status modes the bridge gives or takes on a Matrix user's puppet. Higher ones (+q, +a) need
 *  more than a channel operator to set, which the bot is at most. */
export const SETTABLE_STATUS = ['o', 'h', 'v'] as const;

/** The level of a member with these status modes: that of the highest mapped one, or null for
 *  none (the room's `users_default` applies). */
export function levelOfModes(modes: Iterable<string>, table: PrefixLevels): number | null {
  let best: number | null = null;
  for (const m of modes) {
    const level = table[m];
    if (typeof level === 'number' && (best === null || level > best)) {
      best = level;
    }
  }
  return best;
}

/** The status mode a power level stands for on this server: the mode (among `available`) with
 *  the highest level at or below `level`; null when the level is below them all. */
export function modeForLevel(level: number, table: PrefixLevels, available: readonly string[]): string | null {
  let best: { mode: string; level: number } | null = null;
  for (const mode of available) {
    const l = table[mode];
    if (typeof l === 'number' && l <= level && (best === null || l > best.level)) {
      best = { mode, level: l };
    }
  }
  return best?.mode ?? null;
}

/** The room's creators when its version gives them unlimited power (room version 12 and the
 *  versions derived from it): the creator and `additional_creators`. Empty otherwise. Such
 *  users must never appear in the `users` map of the power levels. */
export function privilegedCreators(create: { sender?: unknown; content?: unknown } | null): Set<string> {
  const content = (typeof create?.content === 'object' && create.content !== null ? create.content : {}) as Record<string, unknown>;
  const version = typeof content.room_version === 'string' ? content.room_version : '1';
  const numeric = /^\d+$/.test(version) ? Number(version) : NaN;
  if (!(numeric >= 12 || version.startsWith('org.matrix.hydra.'))) {
    return new Set();
  }
  const out = new Set<string>();
  if (typeof create?.sender === 'string') {
    out.add(create.sender);
  }
  if (Array.isArray(content.additional_creators)) {
    content.additional_creators.filter((u): u is string => typeof u === 'string').forEach((u) => out.add(u));
  }
  return out;
}

const intOr = (v: unknown, dflt: number): number => (typeof v === 'number' && Number.isInteger(v) ? v : dflt);

/** A user's power level in a room (creators of a version-12 room outrank everyone). */
export function powerOf(levels: Record<string, unknown> | null, creators: ReadonlySet<string>, userId: string): number {
  if (creators.has(userId)) {
    return Number.POSITIVE_INFINITY;
  }
  const users = (levels?.users ?? {}) as Record<string, unknown>;
  return intOr(users[userId], intOr(levels?.users_default, 0));
}

/** The level an action needs (`kick`, `ban`, `invite`, `events_default`, ...) with the spec's
 *  defaults when the room does not say. */
export function levelFor(levels: Record<string, unknown> | null, key: string): number {
  const dflt = key === 'invite' || key === 'events_default' ? 0 : 50;
  return intOr(levels?.[key], dflt);
}

/**
 * The power levels with `changes` applied (a user -> level; null removes the user, leaving
 * them at `users_default`), or null when nothing would change. Creators are never written into
 * `users`; a change for one is dropped.
 */
export function withUserLevels(levels: Record<string, unknown>, changes: ReadonlyMap<string, number | null>,
  creators: ReadonlySet<string>): Record<string, unknown> | null {
  const users: Record<string, unknown> = { ...((levels.users ?? {}) as Record<string, unknown>) };
  const dflt = intOr(levels.users_default, 0);
  let changed = false;
  for (const c of creators) {
    if (c in users) {
      delete users[c];
      changed = true;
    }
  }
  for (const [userId, level] of changes) {
    if (creators.has(userId)) {
      continue;
    }
    const had = userId in users ? users[userId] : undefined;
    if (level === null || level === dflt) {
      if (had !== undefined) {
        delete users[userId];
        changed = true;
      }
    } else if (had !== level) {
      users[userId] = level;
      changed = true;
    }
  }
  return changed ? { ...levels, users } : null;
}
