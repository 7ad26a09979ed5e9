import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  asChannel, asNetworkId, asNick, asRoomId, asUserId,
} from '../../src/ids';
import { readMigrations } from '../../src/store/migrate';
import { SqliteStore } from '../../src/store/sqlite';
import type { RoomMapping } from '../../src/store/store';

const libera = asNetworkId('libera');
const oftc = asNetworkId('oftc');
const mapping = (network: string, channel: string, roomId: string, over: Partial<RoomMapping> = {}): RoomMapping => ({
  network: asNetworkId(network), channel: asChannel(channel), roomId: asRoomId(roomId), origin: 'alias', key: null, ...over,
});
const ev = (roomId: string | null, body: unknown): { roomId: string | null; json: string } =>
  ({ roomId, json: JSON.stringify(body) });

describe('SqliteStore in memory', () => {
  let store: SqliteStore;
  beforeEach(() => {
    store = new SqliteStore(':memory:');
  });
  afterEach(() => store.close());

  describe('room mappings', () => {
    test('upsert then look up by channel and by room', () => {
      const m = mapping('libera', '#Chan', '!r1:hs', { origin: 'static', key: 'secret' });
      store.upsertRoomMapping(m, '#chan');
      expect(store.getRoomByChannel(libera, '#chan')).toEqual(m);
      expect(store.getMappingByRoom(asRoomId('!r1:hs'))).toEqual(m);
    });

    test('lookups are by the folded channel and scoped to the network', () => {
      store.upsertRoomMapping(mapping('libera', '#Chan', '!r1:hs'), '#chan');
      expect(store.getRoomByChannel(libera, '#Chan')).toBeNull();
      expect(store.getRoomByChannel(oftc, '#chan')).toBeNull();
      expect(store.getMappingByRoom(asRoomId('!other:hs'))).toBeNull();
    });

    test('the same channel name on two networks maps to two rooms', () => {
      store.upsertRoomMapping(mapping('libera', '#c', '!a:hs'), '#c');
      store.upsertRoomMapping(mapping('oftc', '#c', '!b:hs'), '#c');
      expect(store.getRoomByChannel(libera, '#c')?.roomId).toBe('!a:hs');
      expect(store.getRoomByChannel(oftc, '#c')?.roomId).toBe('!b:hs');
    });

    test('upsert on an existing channel replaces spelling, room, origin and key', () => {
      store.upsertRoomMapping(mapping('libera', '#chan', '!old:hs', { origin: 'alias', key: 'k1' }), '#chan');
      const updated = mapping('libera', '#CHAN', '!new:hs', { origin: 'plumbed', key: null });
      store.upsertRoomMapping(updated, '#chan');
      expect(store.getRoomByChannel(libera, '#chan')).toEqual(updated);
      expect(store.getMappingByRoom(asRoomId('!old:hs'))).toBeNull();
      expect(store.listRoomMappings()).toHaveLength(1);
    });

    test('listRoomMappings: all sorted by network then folded channel, or one network', () => {
      store.upsertRoomMapping(mapping('oftc', '#b', '!1:hs'), '#b');
      store.upsertRoomMapping(mapping('libera', '#Zed', '!2:hs'), '#zed');
      store.upsertRoomMapping(mapping('libera', '#alpha', '!3:hs'), '#alpha');
      expect(store.listRoomMappings().map((m) => `${m.network}/${m.channel}`))
        .toEqual(['libera/#alpha', 'libera/#Zed', 'oftc/#b']);
      expect(store.listRoomMappings(libera).map((m) => m.roomId)).toEqual(['!3:hs', '!2:hs']);
      expect(store.listRoomMappings(asNetworkId('none'))).toEqual([]);
    });

    test('removeRoomMapping deletes by room and ignores unknown rooms', () => {
      store.upsertRoomMapping(mapping('libera', '#a', '!a:hs'), '#a');
      store.upsertRoomMapping(mapping('libera', '#b', '!b:hs'), '#b');
      store.removeRoomMapping(asRoomId('!a:hs'));
      store.removeRoomMapping(asRoomId('!unknown:hs'));
      expect(store.getMappingByRoom(asRoomId('!a:hs'))).toBeNull();
      expect(store.getRoomByChannel(libera, '#a')).toBeNull();
      expect(store.listRoomMappings().map((m) => m.roomId)).toEqual(['!b:hs']);
    });

    test('a room looked up before a change sees the change (the lookup is kept in memory)', () => {
      const room = asRoomId('!r:hs');
      expect(store.getMappingByRoom(room)).toBeNull();
      expect(store.getRoomByChannel(libera, '#a')).toBeNull();
      store.upsertRoomMapping(mapping('libera', '#a', '!r:hs', { key: 'k1' }), '#a');
      expect(store.getMappingByRoom(room)?.key).toBe('k1');
      expect(store.getRoomByChannel(libera, '#a')?.key).toBe('k1');
      store.upsertRoomMapping(mapping('libera', '#a', '!r:hs', { key: 'k2' }), '#a');
      expect(store.getMappingByRoom(room)?.key).toBe('k2');
      expect(store.getRoomByChannel(libera, '#a')?.key).toBe('k2');
      // The channel moves to another room: the old room is no longer bridged.
      store.upsertRoomMapping(mapping('libera', '#a', '!s:hs'), '#a');
      expect(store.getMappingByRoom(room)).toBeNull();
      expect(store.getMappingByRoom(asRoomId('!s:hs'))?.channel).toBe('#a');
      expect(store.getRoomByChannel(libera, '#a')?.roomId).toBe('!s:hs');
      expect(store.getRoomByChannel(oftc, '#a')).toBeNull();
      store.removeRoomMapping(asRoomId('!s:hs'));
      expect(store.getMappingByRoom(asRoomId('!s:hs'))).toBeNull();
      expect(store.getRoomByChannel(libera, '#a')).toBeNull();
    });

    test('an origin outside alias/static/plumbed is refused by the schema', () => {
      expect(() => store.upsertRoomMapping(mapping('libera', '#a', '!a:hs', { origin: 'bogus' as never }), '#a'))
        .toThrow(/CHECK constraint/);
    });
  });

  describe('puppets', () => {
    const alice = asUserId('@alice:hs');
    test('unknown puppet is null; save then get; save again updates', () => {
      expect(store.getPuppet(alice, libera)).toBeNull();
      store.savePuppet({ userId: alice, network: libera, nick: asNick('alice'), username: 'alice' });
      expect(store.getPuppet(alice, libera)).toEqual({ userId: alice, network: libera, nick: 'alice', username: 'alice' });
      store.savePuppet({ userId: alice, network: libera, nick: asNick('alice_'), username: 'al' });
      expect(store.getPuppet(alice, libera)).toEqual({ userId: alice, network: libera, nick: 'alice_', username: 'al' });
    });

    test('activity: 0 when unknown, kept per network, and a nick change leaves it alone', () => {
      store.setPuppetActivity(alice, libera, 1234); // no record yet: nothing to update
      expect(store.getPuppetActivity(alice, libera)).toBe(0);
      store.savePuppet({ userId: alice, network: libera, nick: asNick('alice'), username: 'alice' });
      store.savePuppet({ userId: alice, network: oftc, nick: asNick('alice'), username: 'alice' });
      expect(store.getPuppetActivity(alice, libera)).toBe(0);
      store.setPuppetActivity(alice, libera, 5000);
      expect(store.getPuppetActivity(alice, libera)).toBe(5000);
      expect(store.getPuppetActivity(alice, oftc)).toBe(0);
      store.savePuppet({ userId: alice, network: libera, nick: asNick('alice_'), username: 'alice' });
      expect(store.getPuppetActivity(alice, libera)).toBe(5000);
    });

    test('puppets are per network', () => {
      store.savePuppet({ userId: alice, network: libera, nick: asNick('alice'), username: 'alice' });
      expect(store.getPuppet(alice, oftc)).toBeNull();
    });

    test('isUsernameTaken: by another user on the same network only', () => {
      store.savePuppet({ userId: alice, network: libera, nick: asNick('alice'), username: 'alice' });
      expect(store.isUsernameTaken(libera, 'alice', asUserId('@alice:other'))).toBe(true);
      expect(store.isUsernameTaken(libera, 'alice', alice)).toBe(false);
      expect(store.isUsernameTaken(oftc, 'alice', asUserId('@alice:other'))).toBe(false);
      expect(store.isUsernameTaken(libera, 'bob', asUserId('@alice:other'))).toBe(false);
    });
  });

  describe('linked bans', () => {
    const ghost = asUserId('@irc_bob:hs');
    const ban = (mask: string, origin: 'matrix' | 'irc' = 'matrix') => ({ network: libera, channelFolded: '#a', userId: ghost, origin, mask });
    test('save, get by user and by mask, replace and remove, per network, channel, user and origin', () => {
      expect(store.getLinkedBanMask(libera, '#a', ghost, 'matrix')).toBeNull();
      store.saveLinkedBan(ban('*!*bob@host'));
      expect(store.getLinkedBanMask(libera, '#a', ghost, 'matrix')).toBe('*!*bob@host');
      expect(store.getLinkedBanUser(libera, '#a', '*!*bob@host', 'matrix')).toBe(ghost);
      expect(store.getLinkedBanMask(libera, '#a', ghost, 'irc')).toBeNull();
      expect(store.getLinkedBanUser(libera, '#a', '*!*bob@host', 'irc')).toBeNull();
      expect(store.getLinkedBanMask(libera, '#b', ghost, 'matrix')).toBeNull();
      expect(store.getLinkedBanMask(oftc, '#a', ghost, 'matrix')).toBeNull();
      store.saveLinkedBan(ban('*!*@newhost'));
      expect(store.getLinkedBanMask(libera, '#a', ghost, 'matrix')).toBe('*!*@newhost');
      expect(store.getLinkedBanUser(libera, '#a', '*!*bob@host', 'matrix')).toBeNull();
      store.saveLinkedBan(ban('*!*x@*', 'irc'));
      store.removeLinkedBan(libera, '#a', ghost, 'matrix');
      expect(store.getLinkedBanMask(libera, '#a', ghost, 'matrix')).toBeNull();
      expect(store.getLinkedBanMask(libera, '#a', ghost, 'irc')).toBe('*!*x@*');
    });

    test('an origin other than matrix or irc is refused by the schema', () => {
      expect(() => store.saveLinkedBan({ ...ban('m'), origin: 'other' as never })).toThrow(/CHECK constraint/);
    });
  });

  describe('admin and private-message rooms', () => {
    const alice = asUserId('@alice:hs');
    const bob = asUserId('@bob:hs');
    const ghost = asUserId('@libera_carol:hs');
    test('one admin room per user, one user per admin room; leaving forgets it', () => {
      expect(store.getAdminRoom(alice)).toBeNull();
      store.setAdminRoom(alice, asRoomId('!a1:hs'));
      store.setAdminRoom(alice, asRoomId('!a2:hs')); // a newer direct chat replaces the old one
      expect(store.getAdminRoom(alice)).toBe('!a2:hs');
      expect(store.adminRoomOwner(asRoomId('!a1:hs'))).toBeNull();
      store.setAdminRoom(bob, asRoomId('!a2:hs')); // the room now belongs to bob only
      expect(store.getAdminRoom(alice)).toBeNull();
      expect(store.adminRoomOwner(asRoomId('!a2:hs'))).toBe(bob);
      store.removeAdminRoom(asRoomId('!a2:hs'));
      expect(store.getAdminRoom(bob)).toBeNull();
    });

    test('a private-message room per network, Matrix user and ghost', () => {
      const pm = { roomId: asRoomId('!pm:hs'), network: libera, userId: alice, ghostId: ghost };
      store.savePmRoom(pm);
      expect(store.getPmRoom(libera, alice, ghost)).toEqual(pm);
      expect(store.getPmRoomById(asRoomId('!pm:hs'))).toEqual(pm);
      expect(store.getPmRoom(oftc, alice, ghost)).toBeNull();
      expect(store.getPmRoom(libera, bob, ghost)).toBeNull();
      expect(store.listPmRooms(libera)).toEqual([pm]);
      expect(store.listPmRooms(oftc)).toEqual([]);
      store.savePmRoom({ ...pm, roomId: asRoomId('!pm2:hs') });
      expect(store.getPmRoom(libera, alice, ghost)?.roomId).toBe('!pm2:hs');
      store.removePmRoom(asRoomId('!pm2:hs'));
      expect(store.getPmRoom(libera, alice, ghost)).toBeNull();
    });
  });

  describe('members', () => {
    const r1 = asRoomId('!r1:hs');
    const r2 = asRoomId('!r2:hs');
    const bob = asUserId('@bob:hs');
    const amy = asUserId('@amy:hs');

    test('add, list (sorted by user), update display name, remove', () => {
      store.addMember({ roomId: r1, userId: bob, displayName: 'Bob' });
      store.addMember({ roomId: r1, userId: amy, displayName: null });
      expect(store.listMembers(r1)).toEqual([
        { roomId: r1, userId: amy, displayName: null },
        { roomId: r1, userId: bob, displayName: 'Bob' },
      ]);
      store.addMember({ roomId: r1, userId: bob, displayName: 'Robert' });
      expect(store.listMembers(r1).find((m) => m.userId === bob)?.displayName).toBe('Robert');
      expect(store.getMember(r1, bob)).toEqual({ roomId: r1, userId: bob, displayName: 'Robert' });
      expect(store.getMember(r1, '@nobody:hs' as never)).toBeNull();
      expect(store.listMembers(r1)).toHaveLength(2);
      store.removeMember(r1, bob);
      expect(store.listMembers(r1).map((m) => m.userId)).toEqual([amy]);
      expect(store.listMembers(r2)).toEqual([]);
    });

    test('listRoomsOfUser lists each room once, sorted', () => {
      store.addMember({ roomId: r2, userId: bob, displayName: null });
      store.addMember({ roomId: r1, userId: bob, displayName: null });
      store.addMember({ roomId: r1, userId: bob, displayName: 'again' });
      store.addMember({ roomId: r1, userId: amy, displayName: null });
      expect(store.listRoomsOfUser(bob)).toEqual([r1, r2]);
      store.removeMember(r2, bob);
      expect(store.listRoomsOfUser(bob)).toEqual([r1]);
      expect(store.listRoomsOfUser(asUserId('@nobody:hs'))).toEqual([]);
    });

    test('listNetworkMembers: every member of the network\'s rooms with channel, key and activity, most active first', () => {
      const cy = asUserId('@cy:hs');
      store.upsertRoomMapping(mapping('libera', '#B', '!r1:hs', { key: 'k' }), '#b');
      store.upsertRoomMapping(mapping('libera', '#a', '!r2:hs'), '#a');
      store.upsertRoomMapping(mapping('oftc', '#a', '!r3:hs'), '#a');
      store.addMember({ roomId: r1, userId: bob, displayName: 'Bob' });
      store.addMember({ roomId: r2, userId: bob, displayName: null });
      store.addMember({ roomId: r1, userId: amy, displayName: null });
      store.addMember({ roomId: r1, userId: cy, displayName: null });
      store.addMember({ roomId: asRoomId('!r3:hs'), userId: amy, displayName: null });
      store.addMember({ roomId: asRoomId('!unbridged:hs'), userId: bob, displayName: null });
      store.savePuppet({ userId: bob, network: libera, nick: asNick('Bob[m]'), username: 'bob' });
      store.setPuppetActivity(bob, libera, 5000);
      store.savePuppet({ userId: cy, network: libera, nick: asNick('Cy[m]'), username: 'cy' }); // activity never recorded
      store.savePuppet({ userId: amy, network: oftc, nick: asNick('Amy[m]'), username: 'amy' });
      store.setPuppetActivity(amy, oftc, 9000); // another network's activity does not count here
      expect(store.listNetworkMembers(libera)).toEqual([
        { userId: bob, displayName: null, roomId: r2, channel: '#a', key: null, lastActive: 5000 },
        { userId: bob, displayName: 'Bob', roomId: r1, channel: '#B', key: 'k', lastActive: 5000 },
        { userId: amy, displayName: null, roomId: r1, channel: '#B', key: 'k', lastActive: null },
        { userId: cy, displayName: null, roomId: r1, channel: '#B', key: 'k', lastActive: 0 },
      ]);
      expect(store.listNetworkMembers(oftc)).toEqual([
        { userId: amy, displayName: null, roomId: asRoomId('!r3:hs'), channel: '#a', key: null, lastActive: 9000 },
      ]);
      expect(store.listNetworkMembers(asNetworkId('none'))).toEqual([]);
    });
  });

  describe('ghosts', () => {
    const ghost = asUserId('@irc_alice:hs');

    test('save and get by folded nick, scoped to the network', () => {
      expect(store.getGhostByNick(libera, 'alice')).toBeNull();
      store.saveGhost({ network: libera, nick: asNick('Alice'), userId: ghost }, 'alice');
      expect(store.getGhostByNick(libera, 'alice')).toEqual({ network: libera, nick: 'Alice', userId: ghost });
      expect(store.getGhostByNick(libera, 'Alice')).toBeNull();
      expect(store.getGhostByNick(oftc, 'alice')).toBeNull();
    });

    test('getGhostByUserId: the ghost\'s nick; null for unknown users or other networks', () => {
      store.saveGhost({ network: libera, nick: asNick('Alice'), userId: ghost }, 'alice');
      expect(store.getGhostByUserId(libera, ghost)).toEqual({ network: libera, nick: 'Alice', userId: ghost });
      expect(store.getGhostByUserId(oftc, ghost)).toBeNull();
      expect(store.getGhostByUserId(libera, asUserId('@irc_bob:hs'))).toBeNull();
    });

    describe('with a controlled clock', () => {
      beforeEach(() => jest.useFakeTimers({ now: 1_700_000_000_000 }));
      afterEach(() => jest.useRealTimers());

      test('getGhostByUserId returns the nick saved last when time has moved on', () => {
        store.saveGhost({ network: libera, nick: asNick('alice'), userId: ghost }, 'alice');
        jest.advanceTimersByTime(1000);
        store.saveGhost({ network: libera, nick: asNick('alice_away'), userId: ghost }, 'alice_away');
        expect(store.getGhostByUserId(libera, ghost)?.nick).toBe('alice_away');
        jest.advanceTimersByTime(1000);
        // Back to the first nick: its row is updated and is the newest again.
        store.saveGhost({ network: libera, nick: asNick('alice'), userId: ghost }, 'alice');
        expect(store.getGhostByUserId(libera, ghost)?.nick).toBe('alice');
      });

      // Two saves in the same millisecond: the later row wins (rowid breaks the tie).
      test('getGhostByUserId returns the nick saved last even within the same millisecond', () => {
        store.saveGhost({ network: libera, nick: asNick('alice'), userId: ghost }, 'alice');
        store.saveGhost({ network: libera, nick: asNick('bob'), userId: ghost }, 'bob');
        expect(store.getGhostByUserId(libera, ghost)?.nick).toBe('bob');
      });
    });

    test('a folded nick taken over by another user points at the new user', () => {
      store.saveGhost({ network: libera, nick: asNick('alice'), userId: ghost }, 'alice');
      const other = asUserId('@irc_alice2:hs');
      store.saveGhost({ network: libera, nick: asNick('ALICE'), userId: other }, 'alice');
      expect(store.getGhostByNick(libera, 'alice')).toEqual({ network: libera, nick: 'ALICE', userId: other });
      expect(store.getGhostByUserId(libera, ghost)).toBeNull();
    });
  });

  describe('the IRC -> Matrix outbox', () => {
    test('items come back per room, oldest first, at most `limit`; deleted ones are gone', () => {
      const a = asRoomId('!a:hs');
      const b = asRoomId('!b:hs');
      const seqs = [1, 2, 3].map((n) => store.enqueueOutbox(libera, a, { n }));
      store.enqueueOutbox(libera, b, { n: 'b' });
      expect(store.listOutbox(a, 2).map((r) => r.item)).toEqual([{ n: 1 }, { n: 2 }]);
      expect(store.listOutbox(a, 10).map((r) => [r.seq, r.network, r.roomId])).toEqual(seqs.map((seq) => [seq, libera, a]));
      expect([...store.listOutboxRooms()].sort()).toEqual([a, b]);
      expect(store.countOutbox()).toBe(4);
      store.deleteOutbox(seqs[0] as number);
      expect(store.listOutbox(a, 1).map((r) => r.item)).toEqual([{ n: 2 }]);
      expect(store.countOutbox()).toBe(3);
    });
  });

  describe('transactions and inbound events', () => {
    test('acceptTransaction: true the first time, false for a repeat, events stored once', () => {
      expect(store.acceptTransaction('txn1', [ev('!r:hs', { n: 1 }), ev(null, { n: 2 })])).toBe(true);
      expect(store.acceptTransaction('txn1', [ev('!r:hs', { n: 1 }), ev(null, { n: 2 })])).toBe(false);
      expect(store.acceptTransaction('txn1', [ev('!r:hs', { n: 3 })])).toBe(false);
      const events = store.listInboundEvents();
      expect(events.map((e) => ({ txnId: e.txnId, roomId: e.roomId, event: e.event }))).toEqual([
        { txnId: 'txn1', roomId: '!r:hs', event: { n: 1 } },
        { txnId: 'txn1', roomId: null, event: { n: 2 } },
      ]);
    });

    test('an event ID accepted before is left out of later transactions; the newest timestamp per room is kept', () => {
      const withId = (id: string, roomId: string, ts: number): { roomId: string; json: string; eventId: string; ts: number } =>
        ({ roomId, json: JSON.stringify({ event_id: id }), eventId: id, ts });
      expect(store.lastSeenEventTs(asRoomId('!r:hs'))).toBeNull();
      expect(store.acceptTransaction('a', [withId('$1', '!r:hs', 100), withId('$2', '!r:hs', 300), withId('$3', '!s:hs', 200)], 'da')).toBe(true);
      expect(store.acceptTransaction('b', [withId('$2', '!r:hs', 300), withId('$4', '!r:hs', 250)], 'db')).toBe(true);
      expect(store.listInboundEvents().map((e) => e.event)).toEqual(
        [{ event_id: '$1' }, { event_id: '$2' }, { event_id: '$3' }, { event_id: '$4' }]);
      expect(store.lastSeenEventTs(asRoomId('!r:hs'))).toBe(300);
      expect(store.lastSeenEventTs(asRoomId('!s:hs'))).toBe(200);
      expect(store.acceptEvents('catch-up', [withId('$4', '!r:hs', 250), withId('$5', '!r:hs', 400)])).toBe(1);
      expect(store.lastSeenEventTs(asRoomId('!r:hs'))).toBe(400);
      expect(store.pruneSeenEvents(60_000)).toBe(0);
      // all are old enough now, but the newest of each room stays for the next catch-up
      expect(store.pruneSeenEvents(-1)).toBe(3);
      expect(store.lastSeenEventTs(asRoomId('!r:hs'))).toBe(400);
      expect(store.lastSeenEventTs(asRoomId('!s:hs'))).toBe(200);
      expect(store.acceptEvents('again', [withId('$1', '!r:hs', 100)])).toBe(1); // forgotten: new again
    });

    test('the same transaction ID with other events (a restarted homeserver) is a new transaction', () => {
      expect(store.acceptTransaction('1', [ev('!r:hs', { n: 1 })], 'digest-a')).toBe(true);
      expect(store.acceptTransaction('1', [ev('!r:hs', { n: 1 })], 'digest-a')).toBe(false);
      expect(store.acceptTransaction('1', [ev('!r:hs', { n: 2 })], 'digest-b')).toBe(true);
      expect(store.acceptTransaction('1', [ev('!r:hs', { n: 2 })], 'digest-b')).toBe(false);
      expect(store.listInboundEvents().map((e) => e.event)).toEqual([{ n: 1 }, { n: 2 }]);
    });

    test('events marked as written to IRC are forgotten at the next start, unmarked ones kept', () => {
      store.acceptTransaction('w', [ev('!r:hs', { n: 1 }), ev('!r:hs', { n: 2 }), ev('!r:hs', { n: 3 })]);
      const [a, b] = store.listInboundEvents();
      store.markInboundWritten(a?.seq as number, true);
      store.markInboundWritten(b?.seq as number, true);
      store.markInboundWritten(b?.seq as number, false);
      expect(store.deleteWrittenInbound()).toBe(1);
      expect(store.listInboundEvents().map((e) => e.event)).toEqual([{ n: 2 }, { n: 3 }]);
    });

    test('an empty transaction is accepted once and stores nothing', () => {
      expect(store.acceptTransaction('empty', [])).toBe(true);
      expect(store.acceptTransaction('empty', [])).toBe(false);
      expect(store.listInboundEvents()).toEqual([]);
    });

    test('listInboundEvents is ordered by seq across transactions; deleteInboundEvent removes one', () => {
      store.acceptTransaction('a', [ev('!r:hs', { i: 1 }), ev('!r:hs', { i: 2 })]);
      store.acceptTransaction('b', [ev('!s:hs', { i: 3 })]);
      const events = store.listInboundEvents();
      expect(events.map((e) => e.event)).toEqual([{ i: 1 }, { i: 2 }, { i: 3 }]);
      const seqs = events.map((e) => e.seq);
      expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
      expect(new Set(seqs).size).toBe(3);

      expect(store.listInboundEvents(seqs[0]).map((e) => e.event)).toEqual([{ i: 2 }, { i: 3 }]);
      expect(store.listInboundEvents(seqs[2])).toEqual([]);

      store.deleteInboundEvent(seqs[1] as number);
      store.deleteInboundEvent(9_999_999);
      expect(store.listInboundEvents().map((e) => e.event)).toEqual([{ i: 1 }, { i: 3 }]);
      // A new event never reuses a deleted seq.
      store.acceptTransaction('c', [ev(null, { i: 4 })]);
      const last = store.listInboundEvents().at(-1);
      expect(last?.event).toEqual({ i: 4 });
      expect(last?.seq).toBeGreaterThan(seqs[2] as number);
    });

    test('a transaction whose events cannot be stored is not remembered (all or nothing)', () => {
      const bad = { roomId: null, json: null as unknown as string }; // violates NOT NULL
      expect(() => store.acceptTransaction('t', [ev(null, { ok: 1 }), bad])).toThrow();
      expect(store.listInboundEvents()).toEqual([]);
      expect(store.acceptTransaction('t', [ev(null, { ok: 1 })])).toBe(true);
      expect(store.listInboundEvents()).toHaveLength(1);
    });

    describe('pruneTransactions', () => {
      beforeEach(() => jest.useFakeTimers({ now: 1_700_000_000_000 }));
      afterEach(() => jest.useRealTimers());

      test('forgets only IDs older than the limit and keeps their events', () => {
        store.acceptTransaction('old', [ev(null, { t: 'old' })]);
        jest.advanceTimersByTime(10_000);
        store.acceptTransaction('new', [ev(null, { t: 'new' })]);
        jest.advanceTimersByTime(10_000);
        expect(store.pruneTransactions(15_000)).toBe(1);
        expect(store.pruneTransactions(15_000)).toBe(0);
        // 'old' is forgotten, so a replay is accepted again; 'new' is still remembered.
        expect(store.acceptTransaction('new', [])).toBe(false);
        expect(store.acceptTransaction('old', [])).toBe(true);
        expect(store.listInboundEvents().map((e) => e.event)).toEqual([{ t: 'old' }, { t: 'new' }]);
        // The limit is strict: 'old' was accepted again this very millisecond and is kept.
        expect(store.pruneTransactions(0)).toBe(1);
        expect(store.acceptTransaction('old', [])).toBe(false);
        jest.advanceTimersByTime(1);
        expect(store.pruneTransactions(0)).toBe(1);
      });
    });
  });

  test('close() twice is harmless', () => {
    store.close();
    expect(() => store.close()).not.toThrow();
  });
});

describe('SqliteStore on disk', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mib-store-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('creates missing parent directories', () => {
    const path = join(dir, 'a', 'b', 'bridge.db');
    const store = new SqliteStore(path);
    store.close();
    expect(existsSync(path)).toBe(true);
  });

  test('keeps everything across close and reopen, in WAL mode, at the latest schema', () => {
    const path = join(dir, 'bridge.db');
    const alice = asUserId('@alice:hs');
    const ghost = asUserId('@irc_bob:hs');
    const room = asRoomId('!r:hs');
    const m = mapping('libera', '#Chan', '!r:hs', { origin: 'plumbed', key: 'k' });

    const first = new SqliteStore(path);
    first.upsertRoomMapping(m, '#chan');
    first.savePuppet({ userId: alice, network: libera, nick: asNick('alice'), username: 'alice' });
    first.saveGhost({ network: libera, nick: asNick('Bob'), userId: ghost }, 'bob');
    first.addMember({ roomId: room, userId: alice, displayName: 'Alice' });
    first.acceptTransaction('txn', [ev('!r:hs', { kept: true })]);
    first.close();

    const raw = new Database(path, { readonly: true });
    try {
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(raw.pragma('user_version', { simple: true })).toBe(readMigrations().length);
    } finally {
      raw.close();
    }

    const second = new SqliteStore(path);
    try {
      expect(second.getRoomByChannel(libera, '#chan')).toEqual(m);
      expect(second.getPuppet(alice, libera)?.nick).toBe('alice');
      expect(second.getGhostByNick(libera, 'bob')).toEqual({ network: libera, nick: 'Bob', userId: ghost });
      expect(second.getGhostByUserId(libera, ghost)?.nick).toBe('Bob');
      expect(second.listMembers(room)).toEqual([{ roomId: room, userId: alice, displayName: 'Alice' }]);
      expect(second.listRoomsOfUser(alice)).toEqual([room]);
      expect(second.acceptTransaction('txn', [])).toBe(false);
      expect(second.listInboundEvents().map((e) => e.event)).toEqual([{ kept: true }]);
    } finally {
      second.close();
    }
  });

  test('storm writes of one turn share one transaction, committed at its end; accepting a transaction commits at once', async () => {
    const path = join(dir, 'batch.db');
    const store = new SqliteStore(path);
    const other = new Database(path, { readonly: true });
    const members = (): number => (other.prepare('SELECT COUNT(*) AS n FROM matrix_members').get() as { n: number }).n;
    try {
      const room = asRoomId('!r:hs');
      store.addMember({ roomId: room, userId: asUserId('@a:hs'), displayName: null });
      store.addMember({ roomId: room, userId: asUserId('@b:hs'), displayName: null });
      expect(store.listMembers(room)).toHaveLength(2); // this connection sees its own writes
      expect(members()).toBe(0); // not committed yet
      await new Promise((r) => setImmediate(r));
      expect(members()).toBe(2);

      store.addMember({ roomId: room, userId: asUserId('@c:hs'), displayName: null });
      expect(store.acceptTransaction('t1', [{ roomId: room, json: '{}' }])).toBe(true);
      expect(members()).toBe(3); // on disk before the bridge answers the homeserver
      expect(other.prepare('SELECT COUNT(*) AS n FROM inbound_events').get()).toEqual({ n: 1 });

      store.addMember({ roomId: room, userId: asUserId('@d:hs'), displayName: null });
      store.close(); // commits what is open
      expect(members()).toBe(4);
    } finally {
      other.close();
      store.close();
    }
  });

  test('refuses a database file written by a newer release', () => {
    const path = join(dir, 'bridge.db');
    const raw = new Database(path);
    raw.pragma(`user_version = ${readMigrations().length + 5}`);
    raw.close();
    expect(() => new SqliteStore(path)).toThrow(/newer than this bridge knows/);
  });
});
