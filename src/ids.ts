/**
 * Branded identifier types. A brand costs nothing at run time and stops a room ID from being
 * passed where a user ID is expected.
 */
declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

export type UserId = Brand<string, 'UserId'>;
export type RoomId = Brand<string, 'RoomId'>;
export type EventId = Brand<string, 'EventId'>;
export type RoomAlias = Brand<string, 'RoomAlias'>;
export type NetworkId = Brand<string, 'NetworkId'>;
/** An IRC channel name as the server spells it (not case-folded). */
export type Channel = Brand<string, 'Channel'>;
/** An IRC nick as the server spells it (not case-folded). */
export type Nick = Brand<string, 'Nick'>;

export const asUserId = (s: string): UserId => s as UserId;
export const asRoomId = (s: string): RoomId => s as RoomId;
export const asEventId = (s: string): EventId => s as EventId;
export const asRoomAlias = (s: string): RoomAlias => s as RoomAlias;
export const asNetworkId = (s: string): NetworkId => s as NetworkId;
export const asChannel = (s: string): Channel => s as Channel;
export const asNick = (s: string): Nick => s as Nick;

/** `@local:domain` -> `local`; the input is returned unchanged when it is not a user ID. */
export function localpartOf(userId: string): string {
  const colon = userId.indexOf(':');
  return userId.startsWith('@') && colon > 1 ? userId.slice(1, colon) : userId;
}

/** `@local:domain` -> `domain`. */
export function domainOf(id: string): string {
  const colon = id.indexOf(':');
  return colon >= 0 ? id.slice(colon + 1) : '';
}
