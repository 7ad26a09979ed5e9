import { SendQueue, type SendQueueOptions } from '../../src/irc/send-queue';

/** A queue whose writes are recorded with the (fake) time they happened. */
function makeQueue(opts: Omit<SendQueueOptions, 'now'>): { q: SendQueue; sent: Array<{ line: string; at: number }> } {
  const sent: Array<{ line: string; at: number }> = [];
  const q = new SendQueue({ ...opts, now: () => Date.now() }, (line) => sent.push({ line, at: Date.now() }));
  return { q, sent };
}

const T0 = 1_700_000_000_000;

describe('SendQueue', () => {
  beforeEach(() => jest.useFakeTimers({ now: T0 }));
  afterEach(() => {
    jest.clearAllTimers();
    jest.useRealTimers();
  });

  test('the burst goes at once, synchronously', () => {
    const { q, sent } = makeQueue({ burst: 3, rate: 1 });
    for (let i = 1; i <= 3; i++) {
      expect(q.push(`L${i}`)).toBe(true);
    }
    expect(sent).toEqual([{ line: 'L1', at: T0 }, { line: 'L2', at: T0 }, { line: 'L3', at: T0 }]);
    expect(q.length).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  test.each([
    { burst: 3, rate: 2, lines: 7, expectedOffsets: [0, 0, 0, 500, 1000, 1500, 2000] },
    { burst: 1, rate: 1, lines: 4, expectedOffsets: [0, 1000, 2000, 3000] },
    { burst: 2, rate: 4, lines: 5, expectedOffsets: [0, 0, 250, 500, 750] },
    { burst: 5, rate: 10, lines: 8, expectedOffsets: [0, 0, 0, 0, 0, 100, 200, 300] },
  ])('burst $burst, rate $rate/s: $lines lines leave at $expectedOffsets ms', ({ burst, rate, lines, expectedOffsets }) => {
    const { q, sent } = makeQueue({ burst, rate });
    for (let i = 0; i < lines; i++) {
      q.push(`L${i}`);
    }
    jest.advanceTimersByTime(10_000);
    expect(sent.map((s) => s.line)).toEqual(Array.from({ length: lines }, (_, i) => `L${i}`));
    expect(sent.map((s) => s.at - T0)).toEqual(expectedOffsets);
    expect(q.length).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  test('a rate that is not a whole number of ms per line is never early and drifts by ms only', () => {
    const { q, sent } = makeQueue({ burst: 1, rate: 3 });
    for (let i = 0; i < 10; i++) {
      q.push(`L${i}`);
    }
    jest.advanceTimersByTime(10_000);
    expect(sent).toHaveLength(10);
    sent.forEach((s, i) => {
      const ideal = (i * 1000) / 3;
      expect(s.at - T0).toBeGreaterThanOrEqual(Math.floor(ideal));
      expect(s.at - T0).toBeLessThanOrEqual(ideal + 10);
    });
  });

  test('nothing paced leaves early: just before the interval the line is still waiting', () => {
    const { q, sent } = makeQueue({ burst: 1, rate: 2 });
    q.push('a');
    q.push('b');
    expect(sent.map((s) => s.line)).toEqual(['a']);
    jest.advanceTimersByTime(499);
    expect(sent.map((s) => s.line)).toEqual(['a']);
    expect(q.length).toBe(1);
    jest.advanceTimersByTime(1);
    expect(sent.map((s) => s.line)).toEqual(['a', 'b']);
  });

  test('order is kept when lines are pushed while others wait', () => {
    const { q, sent } = makeQueue({ burst: 2, rate: 10 });
    q.push('1');
    q.push('2');
    q.push('3');
    jest.advanceTimersByTime(50);
    q.push('4');
    jest.advanceTimersByTime(50);
    q.push('5');
    jest.advanceTimersByTime(1000);
    expect(sent.map((s) => s.line)).toEqual(['1', '2', '3', '4', '5']);
  });

  test('tokens refill with idle time, up to the burst and no further', () => {
    const { q, sent } = makeQueue({ burst: 3, rate: 1 });
    ['a', 'b', 'c'].forEach((l) => q.push(l));
    jest.advanceTimersByTime(2000); // two tokens back
    ['d', 'e', 'f'].forEach((l) => q.push(l));
    expect(sent.map((s) => s.line)).toEqual(['a', 'b', 'c', 'd', 'e']);
    jest.advanceTimersByTime(1000);
    expect(sent.map((s) => s.line)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);

    jest.advanceTimersByTime(60_000); // a long idle time refills only `burst` tokens
    const before = sent.length;
    ['g', 'h', 'i', 'j'].forEach((l) => q.push(l));
    expect(sent.length - before).toBe(3);
    expect(q.length).toBe(1);
  });

  test('maxQueued: push refuses beyond the limit of waiting lines and accepts again once drained', () => {
    const { q, sent } = makeQueue({ burst: 2, rate: 1, maxQueued: 2 });
    expect(q.push('sent1')).toBe(true);
    expect(q.push('sent2')).toBe(true);
    expect(q.push('wait1')).toBe(true);
    expect(q.push('wait2')).toBe(true);
    expect(q.length).toBe(2);
    expect(q.push('refused')).toBe(false);
    expect(q.length).toBe(2);
    jest.advanceTimersByTime(1000);
    expect(q.length).toBe(1);
    expect(q.push('wait3')).toBe(true);
    jest.advanceTimersByTime(10_000);
    expect(sent.map((s) => s.line)).toEqual(['sent1', 'sent2', 'wait1', 'wait2', 'wait3']);
  });

  test('maxQueued defaults to 10 000 waiting lines', () => {
    const { q } = makeQueue({ burst: 1, rate: 1 });
    q.push('sent');
    let accepted = 0;
    for (let i = 0; i < 10_000; i++) {
      accepted += q.push(`w${i}`) ? 1 : 0;
    }
    expect(accepted).toBe(10_000);
    expect(q.push('one too many')).toBe(false);
    expect(q.length).toBe(10_000);
  });

  test('clear() drops what waits, returns the count, cancels the timer, and the queue works after', () => {
    const { q, sent } = makeQueue({ burst: 1, rate: 1 });
    ['a', 'b', 'c'].forEach((l) => q.push(l));
    expect(jest.getTimerCount()).toBe(1);
    expect(q.clear()).toBe(2);
    expect(q.length).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
    jest.advanceTimersByTime(10_000);
    expect(sent.map((s) => s.line)).toEqual(['a']);
    expect(q.clear()).toBe(0);

    q.push('d');
    q.push('e');
    jest.advanceTimersByTime(1000);
    expect(sent.map((s) => s.line)).toEqual(['a', 'd', 'e']);
  });

  test('uses Date.now when no clock is given', () => {
    const sent: string[] = [];
    const q = new SendQueue({ burst: 1, rate: 1 }, (l) => sent.push(l));
    q.push('a');
    q.push('b');
    expect(sent).toEqual(['a']);
    jest.advanceTimersByTime(1000);
    expect(sent).toEqual(['a', 'b']);
  });
});
