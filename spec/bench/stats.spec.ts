/** The benchmark's small statistics helpers. */
import { perSecond } from '../../bench/stats';

describe('perSecond', () => {
  test('counts sorted times per whole second, with empty seconds in between', () => {
    expect(perSecond([0, 10, 999, 1000, 3500])).toEqual([3, 1, 0, 1]);
  });

  test('nothing: no seconds', () => {
    expect(perSecond([])).toEqual([]);
  });
});
