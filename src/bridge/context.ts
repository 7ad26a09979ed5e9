/**
 * What every part of the bridge core is handed: the store, the Matrix client, metrics and the
 * identity settings. Built once in main.ts.
 */
import type { UserId } from '../ids';
import type { IdentRegistry } from '../irc/identd';
import type { MatrixClient } from '../matrix/client';
import type { Metrics } from '../metrics';
import type { Store } from '../store/store';

export interface BridgeContext {
  store: Store;
  matrix: MatrixClient;
  metrics: Metrics;
  /** The homeserver's server name (`example.org`). */
  domain: string;
  /** The bridge bot's user ID. */
  botUserId: UserId;
  /** Base URL for links to uploaded media that IRC users open. */
  mediaUrl: string;
  /** Where puppet connections register for the ident server; absent when identd is off. */
  ident?: IdentRegistry | null;
}

/** The user ID of a ghost or bot in our namespace, from its localpart. */
export function userIdOf(ctx: Pick<BridgeContext, 'domain'>, localpart: string): UserId {
  return `@${localpart}:${ctx.domain}` as UserId;
}

/** mxc://server/id -> an https link an IRC user can open. */
export function mxcToHttp(ctx: Pick<BridgeContext, 'mediaUrl'>, mxc: string): string | null {
  const m = /^mxc:\/\/([^/]+)\/([^/?#]+)$/.exec(mxc);
  return m ? `${ctx.mediaUrl}/_matrix/media/v3/download/${m[1]}/${m[2]}` : null;
}
