import type { BridgeContext } from '../../src/bridge/context';
import { CatchUp } from '../../src/bridge/catch-up';
import type { RoomId } from '../../src/ids';
import { configureLogging } from '../../src/log';

/** The parts of the context a catch-up uses: a store that has seen every room, and a homeserver
 *  whose /messages answers (empty) after `delayMs`, recording which room was read when. */
function fakeContext(delayMs = 5): { ctx: BridgeContext; reads: string[] } {
  const reads: string[] = [];
  const ctx = {
    botUserId: '@ircbridge:hs.test',
    store: { lastSeenEventTs: () => Date.now() - 1000 },
    matrix: {
      roomMessages: async (roomId: string) => {
        reads.push(roomId);
        await new Promise((r) => setTimeout(r, delayMs));
        return { chunk: [] };
      },
    },
    metrics: { catchUpEvents: { inc: () => undefined } },
  } as unknown as BridgeContext;
  return { ctx, reads };
}

const rooms = Array.from({ length: 12 }, (_, i) => `!r${i + 1}:hs.test` as RoomId);

describe('CatchUp', () => {
  beforeAll(() => configureLogging({ level: 'error', sink: { write: () => undefined } }));

  test('rooms whose events wait are read first; each room is reported done as soon as it is read', async () => {
    const { ctx, reads } = fakeContext();
    const done: string[] = [];
    let finished = false;
    const catchUp = new CatchUp(ctx, { maxAgeMs: 600_000, rooms: () => rooms, isOurs: () => false, accept: () => 0,
      roomDone: (r) => done.push(r), done: () => {
        finished = true;
      } });
    catchUp.request('test', 0);
    catchUp.hurry(rooms[9] as RoomId);
    catchUp.hurry(rooms[11] as RoomId);
    await new Promise((r) => setTimeout(r, 5));
    await catchUp.idle();
    expect(reads.slice(0, 2)).toEqual([rooms[9], rooms[11]]);
    expect([...reads].sort()).toEqual([...rooms].sort()); // each room once
    expect([...done].sort()).toEqual([...rooms].sort());
    expect(finished).toBe(true);
  });

  test('a room asked for during a run goes before the rooms not yet read', async () => {
    const { ctx, reads } = fakeContext(20);
    const catchUp = new CatchUp(ctx, { maxAgeMs: 600_000, rooms: () => rooms, isOurs: () => false, accept: () => 0 });
    catchUp.request('test', 0);
    await new Promise((r) => setTimeout(r, 10)); // the first four rooms are being read
    catchUp.hurry(rooms[11] as RoomId);
    await catchUp.idle();
    expect(reads.slice(0, 5)).toEqual([rooms[0], rooms[1], rooms[2], rooms[3], rooms[11]]);
  });

  test('once another catch-up is asked for during a run, rooms read are not reported done: they are read again', async () => {
    const { ctx, reads } = fakeContext(10);
    const done: string[] = [];
    const catchUp = new CatchUp(ctx, { maxAgeMs: 600_000, rooms: () => rooms.slice(0, 8), isOurs: () => false, accept: () => 0,
      roomDone: (r) => done.push(r) });
    catchUp.request('first', 0);
    await new Promise((r) => setTimeout(r, 5)); // the first four are being read
    catchUp.request('second', 1000); // due later than the first run's end
    await new Promise((r) => setTimeout(r, 100));
    expect(reads).toHaveLength(8);
    expect(done).toEqual([]);
    catchUp.stop();
  });
});
