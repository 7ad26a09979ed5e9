import { statusChange } from '../../src/bridge/matrix-room-state';
import { levelOfModes, modeForLevel, powerOf, privilegedCreators, withUserLevels } from '../../src/bridge/power-levels';

const TABLE = { q: 95, a: 75, o: 50, h: 45, v: 1 };
const ORDER = ['q', 'a', 'o', 'h', 'v'];

describe('levelOfModes: the level of a member\'s statuses', () => {
  test.each([
    { modes: [], expected: null },
    { modes: ['v'], expected: 1 },
    { modes: ['o', 'v'], expected: 50 },
    { modes: ['v', 'q'], expected: 95 },
    { modes: ['h'], expected: 45 },
    { modes: ['Y'], expected: null },
  ])('$modes -> $expected', ({ modes, expected }) => {
    expect(levelOfModes(modes, TABLE)).toBe(expected);
  });
});

describe('modeForLevel: the status a level stands for on a server', () => {
  test.each([
    { level: 0, available: ORDER, expected: null },
    { level: -5, available: ORDER, expected: null },
    { level: 1, available: ORDER, expected: 'v' },
    { level: 30, available: ORDER, expected: 'v' },
    { level: 45, available: ORDER, expected: 'h' },
    { level: 49, available: ['o', 'v'], expected: 'v' },
    { level: 50, available: ORDER, expected: 'o' },
    { level: 100, available: ORDER, expected: 'q' },
    { level: 100, available: ['o', 'v'], expected: 'o' },
  ])('$level on $available -> $expected', ({ level, available, expected }) => {
    expect(modeForLevel(level, TABLE, available)).toBe(expected);
  });
});

describe('statusChange: the MODE that moves a member to a status', () => {
  test.each([
    { held: [], wanted: 'o', expected: '+o' },
    { held: ['o'], wanted: 'o', expected: null },
    { held: ['o', 'v'], wanted: 'v', expected: '-o' },
    { held: ['o'], wanted: 'v', expected: '+v-o' },
    { held: ['v'], wanted: 'o', expected: '+o' },
    { held: ['o', 'h', 'v'], wanted: null, expected: '-ohv' },
    { held: ['q'], wanted: null, expected: null }, // the bridge never takes what it cannot give
    { held: [], wanted: null, expected: null },
  ])('$held -> $wanted: $expected', ({ held, wanted, expected }) => {
    expect(statusChange(held, wanted, ORDER)).toBe(expected);
  });
});

describe('privilegedCreators: room version 12 creators', () => {
  test.each([
    { name: 'version 12: the sender and additional creators',
      create: { sender: '@a:x', content: { room_version: '12', additional_creators: ['@b:x', 7] } }, expected: ['@a:x', '@b:x'] },
    { name: 'a later numeric version', create: { sender: '@a:x', content: { room_version: '13' } }, expected: ['@a:x'] },
    { name: 'hydra', create: { sender: '@a:x', content: { room_version: 'org.matrix.hydra.11' } }, expected: ['@a:x'] },
    { name: 'version 11: none', create: { sender: '@a:x', content: { room_version: '11' } }, expected: [] },
    { name: 'no version (1): none', create: { sender: '@a:x', content: {} }, expected: [] },
    { name: 'no create event', create: null, expected: [] },
  ])('$name', ({ create, expected }) => {
    expect([...privilegedCreators(create)]).toEqual(expected);
  });

  test('creators outrank every level; others have theirs or users_default', () => {
    const levels = { users: { '@m:x': 50 }, users_default: 5 };
    const creators = new Set(['@c:x']);
    expect(powerOf(levels, creators, '@c:x')).toBe(Number.POSITIVE_INFINITY);
    expect(powerOf(levels, creators, '@m:x')).toBe(50);
    expect(powerOf(levels, creators, '@n:x')).toBe(5);
    expect(powerOf(null, creators, '@n:x')).toBe(0);
  });
});

describe('withUserLevels', () => {
  const base = { users: { '@bot:x': 100, '@g1:x': 50 }, users_default: 0, ban: 50 };

  test('sets, changes and removes levels, keeping every other key', () => {
    const next = withUserLevels(base, new Map([['@g1:x', 1], ['@g2:x', 50], ['@g3:x', null]]), new Set());
    expect(next).toEqual({ users: { '@bot:x': 100, '@g1:x': 1, '@g2:x': 50 }, users_default: 0, ban: 50 });
  });

  test('a level equal to users_default, or null, removes the user', () => {
    expect(withUserLevels(base, new Map([['@g1:x', 0]]), new Set())).toEqual({ ...base, users: { '@bot:x': 100 } });
    expect(withUserLevels(base, new Map([['@g1:x', null]]), new Set())).toEqual({ ...base, users: { '@bot:x': 100 } });
  });

  test('nothing to change is null', () => {
    expect(withUserLevels(base, new Map([['@g1:x', 50], ['@g9:x', null]]), new Set())).toBeNull();
  });

  test('creators never appear in users: a stale entry goes, a change for one is dropped', () => {
    const next = withUserLevels(base, new Map([['@bot:x', 50], ['@g2:x', 1]]), new Set(['@bot:x']));
    expect(next).toEqual({ ...base, users: { '@g1:x': 50, '@g2:x': 1 } });
    expect(withUserLevels({ users: {} }, new Map([['@bot:x', 50]]), new Set(['@bot:x']))).toBeNull();
  });
});
