/**
 * The configuration, declared once: keys, types, defaults, validation, and the text the docs and
 * the sample config explain. `Config` is inferred from `configSchema`.
 */
import {
  bool, enumOf, int, listOf, mapOf, nullable, num, obj, section, str, url,
  type Infer, type Report,
} from './schema';
import { dirname, join } from 'node:path';
import { parseIpv6Prefix } from '../format/ipv6';
import { literalEnds, mayOverlap, template } from './templates';

const host = (what: string) => str({ pattern: /^[^\s/]+$/, expect: `${what} (no scheme, no spaces)` });
const port = () => int({ min: 1, max: 65535 });

/** The casemapping that folds the most (rfc1459), so a duplicate under any server's rules is caught. */
export const foldChannel = (channel: string): string =>
  channel.toLowerCase().replace(/[[\]\\~]/g, (c) => ({ '[': '{', ']': '}', '\\': '|', '~': '^' })[c] ?? c);

const mapping = obj({
  channel: str({ pattern: /^[#&+!][^\0\x07\r\n ,]*$/, maxLength: 200, expect: 'a channel name: #, &, + or ! then no space, comma or ^G' })
    .doc('IRC channel to bridge. Compared case-insensitively (rfc1459) for duplicates.'),
  room_id: str({ pattern: /^![^:\s]+:[^\s]+$/, expect: 'a room ID like !opaque:server' })
    .doc('Matrix room ID (not an alias) bridged to the channel. The bot must be able to join it.'),
  key: nullable(str({ pattern: /^[^\s,]+$/, expect: 'a channel key without spaces or commas' }))
    .default(null)
    .doc('Channel key (+k) the bot uses to join; null for none.')
    .risk('Stored in plain text in this file.'),
});

/** A user-supplied regular expression: it must compile. */
const regex = () => str({ maxLength: 500, expect: 'a regular expression' }).refine((v, report) => {
  try {
    new RegExp(v);
  } catch (err) {
    report(`is not a valid regular expression: ${(err as Error).message}`);
  }
});

const exclusion = obj({
  regex: regex().doc('Matched against the full Matrix user ID, e.g. ^@.*:untrusted\\.example$ (anchor it yourself).'),
  reason: str({ maxLength: 300 }).default('This bridge does not connect your account to IRC.')
    .doc('Told to the user in the room when they join or speak.'),
});

const network = obj({
  name: str().derive('the network id', (_siblings, id) => id).doc('Human name of the network, shown in rooms.'),
  host: host('a hostname or IP address').doc('IRC server to connect to.'),
  port: port()
    .derive('6697 when tls is true, else 6667', (n) => (n.tls === true ? 6697 : 6667))
    .doc('IRC server port.'),
  tls: bool().default(false).doc('Connect with TLS.')
    .risk('false sends passwords, SASL credentials and every message in clear text.'),
  tls_verify: bool().default(true).doc("Verify the server's TLS certificate.")
    .risk('false accepts any certificate: anyone on the path can impersonate the server and read credentials.'),
  password: nullable(str()).default(null).doc('Server password (PASS) sent by every connection; null for none.')
    .risk('Stored in plain text in this file: keep the file readable by the bridge only.'),
  bot_nick: str({ pattern: /^[A-Za-z[\]\\`_^{|}][A-Za-z0-9[\]\\`_^{|}-]{0,29}$/, expect: 'a valid IRC nick' })
    .default('MatrixBridge')
    .doc("Nick of the bridge's own connection, which reads channel traffic for every portal."),
  bot_username: str({ pattern: /^[^\s@]+$/, expect: 'an IRC username without spaces or @' })
    .default('matrixbridge').doc("IRC username (ident) of the bridge's own connection."),
  puppet_nick_template: template({ allowed: ['DISPLAY', 'LOCALPART'], requireOneOf: ['DISPLAY', 'LOCALPART'] })
    .default('$DISPLAY[m]')
    .doc("Nick of a Matrix user's IRC connection. $DISPLAY: display name; $LOCALPART: user ID localpart. Sanitised to IRC nick characters, shortened to the server's NICKLEN keeping the suffix, and disambiguated on collision.")
    .risk('Without a marker such as [m], IRC users cannot tell bridged users from native ones.'),
  puppet_username_template: template({ allowed: ['LOCALPART'] }).default('$LOCALPART')
    .doc("IRC username (ident) of a Matrix user's connection. Only $LOCALPART is allowed.")
    .risk('A fixed value makes every bridged user look alike to ident-based bans: one ban hits all.'),
  puppet_realname_template: template({ allowed: ['MXID', 'DISPLAY', 'LOCALPART'] }).default('$MXID')
    .doc("IRC realname of a Matrix user's connection; $MXID, $DISPLAY, $LOCALPART.")
    .risk('Without $MXID, IRC users cannot see which Matrix account is behind a nick.'),
  ghost_user_template: template({
    allowed: ['NETWORK', 'NICK'], requireOneOf: ['NICK'], literalChars: /[a-z0-9._=/-]/, literalText: 'a-z 0-9 . _ = / -',
  }).default('$NETWORK_$NICK')
    .doc('Localpart of the Matrix user that stands for an IRC nick (a ghost): @<localpart>:<domain>. Must contain $NICK; may contain $NETWORK.')
    .risk("Must lie inside the appservice's exclusive user namespace in registration.yaml; changing it after first run orphans existing ghosts."),
  ghost_display_name_template: template({ allowed: ['NICK', 'NETWORK'], requireOneOf: ['NICK'] }).default('$NICK')
    .doc('Display name of a ghost. Must contain $NICK; may contain $NETWORK.'),
  portal_alias_template: template({
    allowed: ['NETWORK', 'CHANNEL'], requireOneOf: ['CHANNEL'], literalChars: /[^\s:#]/, literalText: 'characters other than spaces, : and #',
  }).default('$NETWORK_$CHANNEL')
    .doc('Localpart of portal room aliases: #<localpart>:<domain>. Must contain $CHANNEL; may contain $NETWORK.')
    .risk("Must lie inside the appservice's alias namespace in registration.yaml; changing it breaks existing aliases."),
  dynamic_portals: bool().default(true)
    .doc("Create a portal room on demand when a Matrix user joins a channel's alias.")
    .risk('true lets any Matrix user bridge any public channel by joining its alias.'),
  plumbing_consent_timeout_ms: int({ min: 0, max: 3600000 }).default(300000)
    .doc("How long a channel operator has to answer yes when a Matrix room moderator asks to link an existing room to a channel (!link); 0 turns linking off.")
    .risk('Anyone who is a channel operator at the time can allow a link; long values keep a request open after the operator changed.'),
  mappings: listOf(mapping).unique('channel', foldChannel).unique('room_id').default([])
    .doc('Static room <-> channel bridges, set up at start.'),
  max_lines: int({ min: 1, max: 50 }).default(3)
    .doc('A Matrix message longer than this many IRC lines is uploaded; IRC gets its first line and a link.')
    .risk('High values let one Matrix message flood a channel.'),
  send_burst: int({ min: 1, max: 100 }).default(5)
    .doc('Lines a connection may send at once before pacing starts.')
    .risk("Above the server's flood limit, connections get killed for flooding."),
  send_rate: num({ gt: 0, max: 1000 }).default(1)
    .doc('Lines per second a connection sends once the burst is spent. The default matches the one command a second that InspIRCd, Solanum and most public networks allow unpenalised.')
    .risk("Above the server's flood limit, connections get killed for flooding."),
  connect_timeout_ms: int({ min: 1000, max: 600000 }).default(30000)
    .doc('How long a connection attempt may take before it is abandoned and retried.'),
  max_concurrent_connects: int({ min: 1, max: 10000 }).default(10)
    .doc('Puppet connection attempts in flight at once on this network. Thousands suit only a server of your own that allows that many connections from the bridge\'s address (its connect class limits); then the start of a large bridge is paced by the server alone.')
    .risk('High values trip connection-rate limits (K-lines) on many networks.'),
  message_timeout_ms: int({ min: 1000, max: 86400000 }).default(120000)
    .doc("How long a Matrix message may wait for its sender's IRC connection (connecting, reconnecting) before the sender is told it was not delivered.")
    .risk('Long values deliver stale messages after an outage; short ones give up during brief reconnects.'),
  puppet_deaf_mode: str({ pattern: /^(auto|off|[A-Za-z])$/, expect: 'auto, off or one user-mode letter' }).default('auto')
    .doc("The user mode that makes the IRC server send a puppet no channel messages (the bot reads the channels; puppets only send). auto: +d on InspIRCd and UnrealIRCd, +D on Solanum, charybdis and hybrid, when the server lists that mode; off: none; or the letter to set.")
    .risk('A wrong letter sets some other user mode on every puppet; off makes every channel line reach the bridge once per puppet, which costs CPU in large channels.'),
  max_pending_messages: int({ min: 1, max: 100000 }).default(200)
    .doc("How many of one Matrix user's messages may wait for their IRC connection at once; a message beyond that is not queued, and its sender is told.")
    .risk('High values let one user pile up work (and stale messages) while their connection is down; low ones refuse fast typists during a reconnect.'),
  reconnect_max_delay_ms: int({ min: 1000, max: 3600000 }).default(300000)
    .doc('Longest wait between reconnect attempts of one connection (the delay doubles from 1 s, with jitter).')
    .risk('Short values hammer a network that is down or refusing the bridge.'),
  netsplit_debounce_ms: int({ min: 0, max: 3600000 }).default(60000)
    .doc('After a QUIT that looks like a netsplit, wait this long for the user to come back before their ghost leaves the room. 0 disables.')
    .risk('Long values keep ghosts of users who really left during a split.'),
  puppet_idle_timeout_ms: int({ min: 0, max: 2592000000 }).default(0)
    .doc('Disconnect a puppet whose Matrix user has sent nothing for this long; 0 never does. It reconnects when the user next speaks (into that room\'s channel).')
    .risk('Non-zero values make quiet Matrix users vanish from IRC channels (IRC users see them quit).'),
  nick_regain_interval_ms: int({ min: 1000, max: 3600000 }).default(30000)
    .doc("How often a puppet that had to take a stand-in nick after a reconnect asks for the user's nick again.")
    .risk('Short values trip nick-change rate limits on some networks.'),
  auth: enumOf(['auto', 'sasl', 'nickserv']).default('auto')
    .doc("How a Matrix user's connection identifies with the credentials the user stored: auto = SASL (PLAIN with a password, EXTERNAL with a client certificate) when the server offers it, else NickServ IDENTIFY after registration; sasl = SASL only; nickserv = NickServ IDENTIFY only.")
    .risk('nickserv sends the password in a PRIVMSG after the connection is visible on the network; with tls false it crosses the network in clear text either way.'),
  ipv6_prefix: nullable(str({
    pattern: /^[0-9A-Fa-f:.]+\/\d{1,3}$/, expect: 'an IPv6 prefix like 2001:db8:1::/64',
  }).refine((v, report) => {
    const p = parseIpv6Prefix(v);
    if (p === null) {
      report('expected an IPv6 prefix like 2001:db8:1::/64');
    } else if (p.bits > 96) {
      report(`a /${p.bits} leaves too few addresses to give each user their own; use /96 or shorter (a /64 is usual)`);
    }
  })).default(null)
    .doc("Give each Matrix user's connection its own IPv6 source address, derived from a hash of the user ID inside this prefix (stable across restarts), so IRC operators can ban one user rather than the bridge. The host must route the prefix to itself (e.g. `ip -6 route add local 2001:db8:1::/64 dev lo` and net.ipv6.ip_nonlocal_bind=1). null: the system's default address.")
    .risk('If the host cannot bind addresses in the prefix, every puppet connection fails; the bot connection always uses the default address.'),
  puppet_nick_follows_display_name: bool().default(true)
    .doc("When a Matrix user changes display name, rename their puppet on IRC (NICK) with the same cleaning, NICKLEN fit and collision handling as at connect. A nick the server refuses is told to the user and the old nick stays.")
    .risk('Frequent display-name changes become frequent IRC nick changes, which some networks rate-limit.'),
  ban_mask: enumOf(['account_or_user_host', 'account_or_host', 'user_host', 'host']).default('account_or_user_host')
    .doc("The IRC ban (+b) set for a Matrix ban of an IRC user's ghost: account_or_* use the services account (the server's account extban) when the network told the account, else *!*user@host (user_host) or *!*@host (host).")
    .risk('host bans everyone behind the same address (shared hosts, cloaks of a whole provider); user_host is evaded by changing the username.'),
  prefix_power_levels: section({
    q: int({ min: 0, max: 100 }).default(95).doc('Power level of a channel owner (+q, ~).'),
    a: int({ min: 0, max: 100 }).default(75).doc('Power level of a channel admin (+a, &).'),
    o: int({ min: 0, max: 100 }).default(50).doc('Power level of a channel operator (+o, @).'),
    h: int({ min: 0, max: 100 }).default(45).doc('Power level of a half-operator (+h, %).'),
    v: int({ min: 0, max: 100 }).default(1).doc('Power level of a voiced user (+v, +); also the level +m asks for to speak.'),
  }).doc("Matrix power level of an IRC user's ghost for each channel status (only the statuses the server's PREFIX has are used); a Matrix user whose power level reaches o's or v's level gets +o or +v on their puppet when the bot is an operator.")
    .risk('A level at or above the room\'s kick, ban or state levels lets IRC operators moderate the Matrix room as their ghosts; 100 gives them as much power as the bridge.'),
  excluded_users: listOf(exclusion).default([])
    .doc('Matrix users who never get an IRC connection on this network (first matching rule wins). Their messages stay on Matrix and they are told why.'),
  quit_message: str().default('Bridge shutting down')
    .doc('QUIT message of every connection when the bridge stops.'),
  raw_command_allowlist: listOf(str({ pattern: /^[A-Za-z]{1,20}$/, expect: 'an IRC command name (letters only)' }))
    .default(['AWAY', 'INVITE', 'LIST', 'MODE', 'MOTD', 'NAMES', 'NOTICE', 'PRIVMSG', 'TOPIC', 'WHO', 'WHOIS', 'WHOWAS'])
    .doc('IRC commands a user may send through their puppet with `!cmd` in their admin room. NICK, JOIN, PART and QUIT have commands of their own; a command is compared case-insensitively.')
    .risk('Commands such as OPER, KILL or SQUIT let users do whatever their IRC identity allows, in the bridge\'s name.'),
});

type Network = Infer<typeof network>;
const TEMPLATES_THAT_NAME_THINGS = ['ghost_user_template', 'portal_alias_template'] as const;

/** Two networks must not be able to render the same ghost localpart or portal alias. */
function checkOverlaps(networks: Readonly<Record<string, Network>>, report: Report): void {
  const ids = Object.keys(networks);
  for (const key of TEMPLATES_THAT_NAME_THINGS) {
    ids.forEach((id, i) => {
      const mine = literalEnds(networks[id]?.[key] ?? '', id);
      const other = ids.slice(0, i).find((o) => mayOverlap(mine, literalEnds(networks[o]?.[key] ?? '', o)));
      if (other !== undefined) {
        report(
          `may render the same names as networks.${other}.${key}; include $NETWORK or use distinct literal prefixes`,
          `.${id}.${key}`,
        );
      }
    });
  }
}

export const configSchema = obj({
  homeserver: obj({
    url: url().doc('Client-server API base URL the bridge uses to reach the homeserver.')
      .risk('Prefer a local address: a public one sends the as_token across the network.'),
    domain: str({
      pattern: /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/,
      expect: 'a server name (hostname or hostname:port, no scheme)',
    }).doc('Server name: the part after the colon in user IDs, e.g. example.org.')
      .risk('Changing it after first run orphans every ghost user and portal alias.'),
    media_url: url().derive('same as homeserver.url', (hs) => (typeof hs.url === 'string' ? hs.url : undefined))
      .doc('Public base URL used in links to uploaded long messages that IRC users click.')
      .risk('An internal address gives IRC users links they cannot open; anyone with a link can read the upload.'),
    catch_up_max_age_ms: int({ min: 0, max: 86400000 }).default(600000)
      .doc('After the bridge starts, the homeserver comes back from an outage, or its transaction numbers jump, the bridge reads this far back in each bridged room for events the homeserver never sent it, and handles them. 0 turns catching up off.')
      .risk('0 leaves messages the homeserver lost undelivered; long values can deliver old messages to IRC late.'),
  }).doc('The Matrix homeserver the bridge belongs to.'),
  appservice: section({
    bind: host('an address').default('127.0.0.1').doc('Address the appservice HTTP listener binds to.')
      .risk('0.0.0.0 exposes the transaction endpoint beyond the homeserver; only hs_token guards it.'),
    port: port().default(9995).doc('Port of the appservice listener; must match the url in registration.yaml.'),
    provisioning_secret: nullable(str({ pattern: /^\S{32,}$/, expect: 'at least 32 characters without spaces' })).default(null)
      .doc('Shared secret of the provisioning API (POST /_matrix/provision/v1/link and /unlink on the appservice listener, as `Authorization: Bearer <secret>`); null turns the API off.')
      .risk('Whoever has it can ask to link any room whose moderator they name; the channel operator\'s consent is still asked. Keep it out of logs and version control.'),
  }).doc('The HTTP listener the homeserver sends transactions and queries to.'),
  database: section({
    path: str().default('./data/bridge.db').doc('SQLite database file, created if missing.')
      .risk('Holds mappings, credentials (encrypted) and queued messages: keep it private and back it up. Only the bridge may write it while it runs (it keeps mappings in memory).'),
    key_file: str().derive('credentials.key in the directory of path',
      (db) => (typeof db.path === 'string' ? join(dirname(db.path), 'credentials.key') : undefined))
      .doc('Key (32 random bytes) that encrypts stored IRC passwords and client keys (AES-256-GCM). Created with mode 0600 at first start; the bridge refuses to start when the file is readable by others or is not 32 bytes.')
      .risk('Losing it makes every stored credential unreadable (users store them again); anyone with it and the database can read them: back it up apart from the database.'),
  }).doc('Where the bridge keeps its state.'),
  networks: mapOf(network, {
    pattern: /^[a-z0-9][a-z0-9-]{0,31}$/,
    name: 'network id',
    rule: 'use 1-32 of a-z 0-9 -, not starting with -',
    placeholder: '<id>',
  }, { minEntries: 1 })
    .refine(checkOverlaps)
    .doc('IRC networks by id. The id appears in ghost user IDs, portal aliases and stored state.')
    .risk('Renaming an id orphans its ghosts, portals and stored state.'),
  identd: section({
    enabled: bool().default(false)
      .doc("Answer ident (RFC 1413) queries from IRC servers with each puppet's username, which is then made unique per Matrix user and shown without the ~ prefix.")
      .risk('The listener answers anyone who can reach it, with the usernames of open connections only.'),
    bind: host('an address').default('0.0.0.0').doc('Address the ident listener binds to: one the IRC servers can reach.'),
    port: port().default(113)
      .doc('Port of the ident listener. IRC servers query port 113; binding it needs root or CAP_NET_BIND_SERVICE, or a redirect from 113 to a high port.'),
  }).doc('Built-in ident server.'),
  admin: section({
    bridge_admins: listOf(regex()).default([])
      .doc('Matrix user IDs (regular expressions matched against the whole ID; anchor them yourself) who may use the administrator commands in their admin room: see who is behind any puppet, and disconnect or reconnect anyone.')
      .risk('A loose pattern (e.g. missing ^ or $) makes strangers bridge administrators.'),
  }).doc("The admin room: each Matrix user's direct chat with the bridge bot, for commands and notices about their IRC connections."),
  metrics: section({
    enabled: bool().default(false).doc('Serve Prometheus metrics at /metrics.'),
    bind: host('an address').default('127.0.0.1').doc('Address the metrics listener binds to.')
      .risk('0.0.0.0 shows network names and activity levels to anyone who can reach the port.'),
    port: port().default(9001).doc('Port of the metrics listener.'),
  }).doc('Prometheus metrics listener.'),
  logging: section({
    level: enumOf(['debug', 'info', 'warn', 'error']).default('info').doc('Least severe level written.')
      .risk('debug is verbose and records room and user IDs of every event.'),
    format: enumOf(['json', 'text']).default('text').doc('json for log collectors, text for people.'),
  }).doc('Log output, written to stderr.'),
});
