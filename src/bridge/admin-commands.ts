/**
 * The admin room's commands, as a table: name, usage, help, argument counts and what it does.
 * Each acts on the calling user's own IRC connection unless marked for bridge admins.
 */
import type { Channel, RoomId, UserId } from '../ids';
import { buildLine, UnsafeLineError } from '../irc/line';
import type { AdminCommand, AdminServices, CommandCall } from './admin-room';
import { CHANNEL_PATTERN, NICK_PATTERN, UsageError } from './admin-room';
import { fingerprintOf, makeClientCertificate } from './client-cert';
import type { BridgeContext } from './context';
import { removeIrcCredentials, storeIrcCredentials } from './credentials';
import type { NetworkBridge } from './network';
import { secretsIn } from './services-secrets';

function netOf(call: CommandCall): NetworkBridge {
  if (!call.net) {
    throw new UsageError('Name a network.');
  }
  return call.net;
}

/** Bridged rooms of `net` the user is in. */
function roomsOn(ctx: BridgeContext, net: NetworkBridge, userId: UserId): Array<{ roomId: RoomId; channel: string }> {
  return ctx.store.listRoomsOfUser(userId).flatMap((roomId) => {
    const m = ctx.store.getMappingByRoom(roomId);
    return m && m.network === net.id ? [{ roomId, channel: m.channel as string }] : [];
  });
}

function connectionState(net: NetworkBridge, userId: UserId): string {
  const p = net.puppets.get(userId);
  if (!p) {
    return 'not connected';
  }
  if (p.banned !== null) {
    return `banned by the network (${p.banned})`;
  }
  if (p.conn?.state === 'registered') {
    return `connected as ${p.conn.nick}`;
  }
  return p.connecting ? 'connecting' : 'reconnecting';
}

export function builtinCommands(ctx: BridgeContext, services: AdminServices, helpFor: (userId: UserId) => string): AdminCommand[] {
  const whoisNick = async (net: NetworkBridge, nick: string): Promise<string> => {
    const puppetUser = net.puppets.userIdOfNick(nick);
    if (puppetUser) {
      return `${nick} is the Matrix user ${puppetUser}, bridged.`;
    }
    const info = await net.whois(nick);
    if (!info) {
      return `${nick} is not on ${net.cfg.name}.`;
    }
    const parts = [`${info.nick} is ${info.user}@${info.host} (${info.realname})`];
    if (info.account) parts.push(`logged in as ${info.account}`);
    if (info.server) parts.push(`on ${info.server}`);
    if (info.channels.length > 0) parts.push(`in ${info.channels.join(' ')}`);
    if (info.idleSeconds !== null && Number.isFinite(info.idleSeconds)) parts.push(`idle ${info.idleSeconds} s`);
    return `${parts.join(', ')}. Matrix: ${net.ghosts.peekUserId(info.nick)}.`;
  };

  const credentialsHost = { store: ctx.store, networks: services.networks };
  /** The command's message holds a secret: redact it (the bot can in a direct chat it is in). */
  const redact = (c: CommandCall): Promise<boolean> =>
    ctx.matrix.redact(c.roomId, c.eventId, 'held a password', ctx.botUserId).then(() => true, () => false);

  return [
    {
      name: 'help', usage: '', help: 'this list', network: false, minArgs: 0, maxArgs: 1,
      run: (c) => c.reply(helpFor(c.userId)),
    },
    {
      name: 'bridgeversion', usage: '', help: 'the bridge\'s version', network: false, minArgs: 0, maxArgs: 0,
      run: (c) => c.reply(`matrix-irc-bridge ${services.version} (Node.js ${process.version})`),
    },
    {
      name: 'listrooms', usage: '[network]', help: 'your bridged rooms and your connection on a network',
      network: true, minArgs: 0, maxArgs: 0,
      run: async (c) => {
        const net = netOf(c);
        const rooms = roomsOn(ctx, net, c.userId);
        const lines = rooms.map((r) => `${r.channel}: ${services.aliasOf(net, r.channel)} (${r.roomId})`);
        await c.reply(`${net.cfg.name}: ${connectionState(net, c.userId)}.\n` +
          (lines.length > 0 ? lines.join('\n') : 'You are in no bridged room of this network.'));
      },
    },
    {
      name: 'nick', usage: '[network] <nick>', help: 'change your IRC nick (kept for next time)',
      network: true, minArgs: 1, maxArgs: 1,
      run: async (c) => {
        const net = netOf(c);
        const nick = c.args[0] as string;
        if (!NICK_PATTERN.test(nick) || nick.length > net.nickLen()) {
          throw new UsageError(`"${nick.slice(0, 60)}" is not a valid nick here (letters, digits and -[]\\\`_^{|}, ` +
            `not starting with a digit or -, at most ${net.nickLen()} characters).`);
        }
        const p = net.puppets.get(c.userId);
        if (p?.conn?.state === 'registered') {
          const confirmed = await net.puppets.changeNick(c.userId, nick);
          await c.reply(`You are now ${confirmed} on ${net.cfg.name}.`);
          return;
        }
        net.puppets.rememberNick(c.userId, nick);
        await c.reply(`You are not connected to ${net.cfg.name} now; you will be ${nick} when you connect.`);
      },
    },
    {
      name: 'join', usage: '[network] <#channel> [key]', help: 'join a channel (its room is created if needed, and you are invited)',
      network: true, minArgs: 1, maxArgs: 2,
      run: async (c) => {
        const net = netOf(c);
        const channel = c.args[0] as string;
        if (!CHANNEL_PATTERN.test(channel)) {
          throw new UsageError(`"${channel.slice(0, 60)}" is not a channel name.`);
        }
        if (net.exclusionOf(c.userId) !== null) {
          await c.reply(`You cannot join channels on ${net.cfg.name}: ${net.exclusionOf(c.userId)}`);
          return;
        }
        const roomId = await services.ensurePortal(net, channel as Channel, c.args[1] ?? null);
        if (!roomId) {
          await c.reply(`Could not bridge ${channel} on ${net.cfg.name}: the bridge cannot join it, or new portals are off.`);
          return;
        }
        if (ctx.store.getMember(roomId, c.userId)) {
          await c.reply(`You are already in ${channel}: ${services.aliasOf(net, channel)}`);
          return;
        }
        await ctx.matrix.invite(roomId, c.userId, ctx.botUserId);
        await c.reply(`Invited you to ${channel} (${services.aliasOf(net, channel)}); accept the invite to join.`);
      },
    },
    {
      name: 'part', usage: '[network] <#channel>', help: 'leave a channel (you are removed from its room)',
      network: true, minArgs: 1, maxArgs: 1,
      run: async (c) => {
        const net = netOf(c);
        const channel = c.args[0] as string;
        const room = roomsOn(ctx, net, c.userId).find((r) => net.fold(r.channel) === net.fold(channel));
        if (!room) {
          await c.reply(`You are not in a bridged room of ${channel} on ${net.cfg.name}.`);
          return;
        }
        // The bridge ignores its own kick when the homeserver echoes it, so it parts here itself.
        const kicked = await ctx.matrix.kick(room.roomId, c.userId, 'Left the channel with !part', ctx.botUserId)
          .then(() => null, (err: Error) => err.message);
        ctx.store.removeMember(room.roomId, c.userId);
        await net.puppets.partChannel(c.userId, room.channel, 'Left the channel');
        await c.reply(kicked === null ? `You left ${channel}.` : `You left ${channel} on IRC, but the bridge could not take ` +
          `you out of its Matrix room (${kicked}); leave it yourself, or your messages there will bring you back.`);
      },
    },
    {
      name: 'whois', usage: '[network] <nick|@user:server>', help: 'who is behind a nick or a Matrix user, on both sides',
      network: true, minArgs: 1, maxArgs: 1,
      run: async (c) => {
        const net = netOf(c);
        const who = c.args[0] as string;
        if (who.startsWith('@')) {
          if (net.ghosts.isGhost(who)) {
            const nick = net.ghosts.nickFor(who);
            await c.reply(nick ? await whoisNick(net, nick) : `${who} is no IRC user of ${net.cfg.name}.`);
          } else {
            await c.reply(`${who} on ${net.cfg.name}: ${connectionState(net, who as UserId)}.`);
          }
          return;
        }
        if (!NICK_PATTERN.test(who)) {
          throw new UsageError(`"${who.slice(0, 60)}" is neither a nick nor a Matrix user ID.`);
        }
        await c.reply(await whoisNick(net, who));
      },
    },
    {
      name: 'reconnect', usage: '[network]', help: 'drop your IRC connection and connect again',
      network: true, minArgs: 0, maxArgs: 0,
      run: async (c) => {
        const net = netOf(c);
        if (!net.puppets.get(c.userId)) {
          await c.reply(`You have no connection to ${net.cfg.name}; join one of its rooms (!join) to get one.`);
          return;
        }
        const conn = await net.puppets.reconnect(c.userId);
        await c.reply(`Reconnected to ${net.cfg.name} as ${conn.nick}.`);
      },
    },
    {
      name: 'quit', usage: '[network]', help: 'leave IRC: your connection quits and you leave its bridged rooms',
      network: true, minArgs: 0, maxArgs: 0,
      run: async (c) => {
        const net = netOf(c);
        const rooms = roomsOn(ctx, net, c.userId);
        const stuck: string[] = [];
        for (const r of rooms) {
          await ctx.matrix.kick(r.roomId, c.userId, 'Left IRC with !quit', ctx.botUserId).catch(() => stuck.push(r.channel));
          ctx.store.removeMember(r.roomId, c.userId); // not reconnected at the next start
        }
        await net.puppets.disconnect(c.userId, 'Quit');
        await c.reply(`You left ${net.cfg.name}.` + (stuck.length > 0
          ? ` The bridge could not take you out of the rooms of ${stuck.join(', ')}; leave them yourself.` : ''));
      },
    },
    {
      name: 'cmd', usage: '[network] <COMMAND> [parameters] [:last parameter]',
      help: 'send a raw IRC command as yourself (only those the operator allows)',
      network: true, minArgs: 1, maxArgs: 100,
      run: async (c) => {
        const net = netOf(c);
        const m = /^(\S+)\s*(.*)$/s.exec(c.rest);
        const command = (m?.[1] ?? '').toUpperCase();
        const allowed = net.cfg.raw_command_allowlist.map((x) => x.toUpperCase());
        if (!allowed.includes(command)) {
          await c.reply(`${command.slice(0, 30)} is not allowed here. Allowed: ${allowed.join(', ') || 'none'}.`);
          return;
        }
        const raw = m?.[2] ?? '';
        const colon = raw.startsWith(':') ? 0 : raw.indexOf(' :');
        const middle = (colon < 0 ? raw : raw.slice(0, colon)).split(' ').filter((w) => w !== '');
        const params = colon < 0 ? middle : [...middle, raw.slice(colon === 0 ? 1 : colon + 2)];
        try {
          buildLine(command, params);
        } catch (err) {
          if (err instanceof UnsafeLineError) {
            throw new UsageError(`That cannot be sent: ${err.message}`);
          }
          throw err;
        }
        const p = net.puppets.get(c.userId);
        // A password for services (REGISTER, IDENTIFY ...): masked in their answers, and this
        // message redacted.
        const secrets = (command === 'PRIVMSG' || command === 'NOTICE') && params.length >= 2
          ? secretsIn(params[0] as string, params[params.length - 1] as string) : [];
        const hidden = secrets.length > 0 ? await redact(c) : null;
        const note = hidden === null ? '' : hidden ? ' Your message held a password: the bridge redacted it.'
          : ' Your message held a password and the bridge could not redact it: delete it yourself.';
        if (p?.conn?.state !== 'registered') {
          await c.reply(`You are not connected to ${net.cfg.name}.${note}`);
          return;
        }
        net.secrets.remember(c.userId, secrets);
        p.conn.send(command, params);
        await c.reply(`Sent ${command} to ${net.cfg.name}. Replies from services arrive as direct chats.${note}`);
      },
    },
    {
      name: 'storepass', usage: '[network] [account:]<password>',
      help: 'store your services password (encrypted) and identify with it at every connect',
      network: true, minArgs: 1, maxArgs: 100,
      run: async (c) => {
        const net = netOf(c);
        const redacted = await redact(c);
        const first = /^(\S+)\s+\S/.exec(c.rest)?.[1];
        if (first !== undefined && /^[a-z0-9][a-z0-9-]{0,31}$/.test(first) && !first.includes(':')) {
          // "!storepass othernet secret": a network that does not exist, not a password with a space
          await c.reply(`Nothing stored: there is no network "${first}" (networks: ${[...services.networks.keys()].join(', ')}). ` +
            'For a password with spaces, name the account too: !storepass account:pass word' +
            (redacted ? '' : ' The bridge could not redact your message: delete it yourself.'));
          return;
        }
        // "account:password" when what comes before the first ':' could be an account name
        const m = /^([^\s:]{1,64}):(.+)$/s.exec(c.rest);
        const account = m ? (m[1] as string) : null;
        const password = m ? (m[2] as string) : c.rest;
        const existing = ctx.store.getCredentials(c.userId, net.id);
        const outcome = await storeIrcCredentials(credentialsHost, c.userId, net.id,
          { account, password, clientCert: existing?.clientCert ?? null });
        const note = redacted ? '' : ' The bridge could not redact your message: delete it yourself.';
        if (!outcome.ok) {
          await c.reply(`Nothing stored: ${outcome.reason}.${note}`);
          return;
        }
        await c.reply(`Stored your ${account ? `password for account ${account}` : 'password'} for ${net.cfg.name}` +
          (outcome.reconnected ? '; reconnecting you to identify with it.' : '; it is used when you next connect.') + note);
      },
    },
    {
      name: 'removepass', usage: '[network]', help: 'forget your stored password and certificate for a network',
      network: true, minArgs: 0, maxArgs: 0,
      run: async (c) => {
        const net = netOf(c);
        const outcome = removeIrcCredentials(credentialsHost, c.userId, net.id);
        await c.reply(outcome.ok ? `Forgot your credentials for ${net.cfg.name}. Your current connection stays as it is.`
          : `Nothing removed: ${outcome.reason}.`);
      },
    },
    {
      name: 'certfp', usage: '[network]',
      help: 'make (once) your client certificate and show its fingerprint, to add to your services account',
      network: true, minArgs: 0, maxArgs: 0,
      run: async (c) => {
        const net = netOf(c);
        const existing = ctx.store.getCredentials(c.userId, net.id);
        let certificate = existing?.clientCert?.certificate;
        let reconnected = false;
        if (!certificate) {
          const made = makeClientCertificate(c.userId);
          const outcome = await storeIrcCredentials(credentialsHost, c.userId, net.id, { account: existing?.account ?? null,
            password: existing?.password ?? null, clientCert: { certificate: made.certificate, privateKey: made.privateKey } });
          if (!outcome.ok) {
            await c.reply(`No certificate made: ${outcome.reason}.`);
            return;
          }
          certificate = made.certificate;
          reconnected = outcome.reconnected;
        }
        const fp = fingerprintOf(certificate);
        await c.reply(`Your client certificate for ${net.cfg.name} has the SHA-256 fingerprint\n${fp}\n` +
          `(${fp.replace(/:/g, '').toLowerCase()}). Add it to your services account, for example with ` +
          `!cmd ${net.id} PRIVMSG NickServ :CERT ADD ${fp.replace(/:/g, '').toLowerCase()}\n` +
          (net.cfg.tls ? 'From then on the bridge logs you in with it (SASL EXTERNAL).' + (reconnected ? ' Reconnecting you now.' : '')
            : 'This network is configured without TLS, so the certificate cannot be used until the operator turns tls on.'));
      },
    },
    {
      name: 'inspect', usage: '[network] <@user:server|nick>', help: 'a user\'s connection: nick, state, channels',
      network: true, minArgs: 1, maxArgs: 1, admin: true,
      run: async (c) => {
        const net = netOf(c);
        const who = c.args[0] as string;
        const userId = (who.startsWith('@') ? who : net.puppets.userIdOfNick(who)) as UserId | undefined;
        if (!userId) {
          await c.reply(`${who} is no bridged Matrix user's nick on ${net.cfg.name}.`);
          return;
        }
        const p = net.puppets.get(userId);
        const channels = p ? [...p.channels.values()].map((ch) => ch.name).join(' ') : '';
        await c.reply(`${userId} on ${net.cfg.name}: ${connectionState(net, userId)}` +
          (channels ? `; channels ${channels}` : '') +
          (p ? `; last active ${p.lastActive > 0 ? new Date(p.lastActive).toISOString() : 'unknown'}` : '') + '.');
      },
    },
    {
      name: 'disconnect', usage: '[network] <@user:server> [reason]', help: 'disconnect a user\'s puppet',
      network: true, minArgs: 1, maxArgs: 50, admin: true,
      run: async (c) => {
        const net = netOf(c);
        const userId = c.args[0] as UserId;
        if (!net.puppets.get(userId)) {
          await c.reply(`${userId} has no connection to ${net.cfg.name}.`);
          return;
        }
        const reason = c.args.slice(1).join(' ') || 'Disconnected by a bridge administrator';
        await net.puppets.disconnect(userId, reason.replace(/[\r\n\0]/g, ' '));
        await c.reply(`Disconnected ${userId} from ${net.cfg.name}. They reconnect when they next speak.`);
      },
    },
  ];
}
