/** The sliding window that bounds what IRC users may make the bridge do to Matrix users. */
import { RateWindow } from '../../src/bridge/rate-window';

describe('RateWindow', () => {
  test('at most `limit` per key in any window; each key on its own', () => {
    const w = new RateWindow(3, 60_000);
    expect([0, 1, 2, 3].map((t) => w.take('a', t))).toEqual([true, true, true, false]);
    expect(w.take('b', 4)).toBe(true);
    expect(w.take('a', 59_999)).toBe(false);
    expect(w.take('a', 60_000)).toBe(true); // the first one left the window
    expect(w.take('a', 60_001)).toBe(true);
    expect(w.take('a', 60_002)).toBe(true);
    expect(w.take('a', 60_003)).toBe(false);
  });

  test('keys with nothing recent are forgotten once there are many', () => {
    const w = new RateWindow(1, 1000);
    for (let i = 0; i < 1000; i++) {
      w.take(`k${i}`, 0);
    }
    w.take('late', 5000); // the 1001st key: the old ones are pruned
    const size = (w as unknown as { recent: Map<string, number[]> }).recent.size;
    expect(size).toBe(1);
    expect(w.take('k0', 5000)).toBe(true);
  });
});
