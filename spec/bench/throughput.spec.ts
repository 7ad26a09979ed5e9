import {
  highestPassing, judgeStep, scenarioThroughput, stepCount, throughputMarkdown, type Direction, type StepFigures,
} from '../../bench/throughput';

const figures = (over: Partial<StepFigures> = {}): StepFigures => ({
  direction: 'matrix_to_irc', rate: 100, sent: 500, received: 500, lost: 0, duplicates: 0, outOfOrder: 0,
  latencyMs: { count: 500, p50: 4, p90: 8, p99: 20, max: 30, mean: 5 }, sendSeconds: 4.99, cpuMsPerMessage: 2, ...over,
});

describe('bench throughput', () => {
  it('counts rate x seconds messages a step, at least one', () => {
    expect(stepCount(350, 5)).toBe(1750);
    expect(stepCount(0.1, 2)).toBe(1);
  });

  describe('judgeStep', () => {
    it('passes under 1 % lost and p99 under 1 s', () => {
      const s = judgeStep(figures({ lost: 4, received: 496, latencyMs: { count: 496, p50: 4, p90: 8, p99: 999, max: 1500, mean: 5 } }));
      expect(s).toMatchObject({ pass: true, reason: '', lossPercent: 0.8, achievedRate: 100 });
    });

    it('fails at 1 % lost, at p99 of 1 s, and when nothing arrived', () => {
      expect(judgeStep(figures({ lost: 5, received: 495 }))).toMatchObject({ pass: false, reason: '1 % lost' });
      expect(judgeStep(figures({ latencyMs: { count: 500, p50: 900, p90: 990, p99: 1000, max: 1100, mean: 900 } })))
        .toMatchObject({ pass: false, reason: 'p99 1000 ms' });
      expect(judgeStep(figures({ lost: 500, received: 0, latencyMs: { count: 0, p50: null, p90: null, p99: null, max: null, mean: null } })))
        .toMatchObject({ pass: false, reason: '100 % lost, nothing arrived', lossPercent: 100 });
    });
  });

  it('highestPassing is the top rate before the first failure', () => {
    const steps = [100, 200, 350, 500].map((rate, i) => ({ ...judgeStep(figures({ rate })), pass: i !== 2 }));
    expect(highestPassing(steps)).toBe(200);
    expect(highestPassing(steps.slice(0, 2))).toBe(200);
    expect(highestPassing([{ ...judgeStep(figures()), pass: false }])).toBeNull();
    expect(highestPassing([])).toBeNull();
  });

  describe('scenarioThroughput', () => {
    /** A bridge that keeps up to `limit` msg/s Matrix -> IRC and any rate IRC -> Matrix. */
    const run = async (limit: number, fail?: { direction: Direction; rate: number }) => {
      const calls: Array<[Direction, number, number]> = [];
      const phases: string[] = [];
      const result = await scenarioThroughput({
        runStep: (direction, rate, count) => {
          calls.push([direction, rate, count]);
          if (fail && fail.direction === direction && fail.rate === rate) {
            return Promise.reject(new Error('IRC connection of observer is closed\nmore'));
          }
          const slow = direction === 'matrix_to_irc' && rate > limit;
          return Promise.resolve(figures({
            direction, rate, sent: count, received: count,
            latencyMs: { count, p50: slow ? 800 : 3, p90: 10, p99: slow ? 1500 : 12, max: slow ? 2000 : 20, mean: 4 },
            sendSeconds: (count - 1) / rate,
          }));
        },
        sleep: () => Promise.resolve(),
        progress: () => undefined,
        onStep: (d, r) => phases.push(`${d}_${r}`),
      }, { puppets: 1000, rates: [500, 100, 200, 1000], stepSeconds: 2 });
      return { result, calls, phases };
    };

    it('steps each direction through the rates in order and stops a direction at its first failure', async () => {
      const { result, calls, phases } = await run(200);
      expect(calls).toEqual([
        ['matrix_to_irc', 100, 200], ['matrix_to_irc', 200, 400], ['matrix_to_irc', 500, 1000],
        ['irc_to_matrix', 100, 200], ['irc_to_matrix', 200, 400], ['irc_to_matrix', 500, 1000], ['irc_to_matrix', 1000, 2000],
      ]);
      expect(phases).toHaveLength(7);
      expect(result.rates).toEqual([100, 200, 500, 1000]);
      expect(result.directions.map((d) => [d.direction, d.highestPassingRate])).toEqual([
        ['matrix_to_irc', 200], ['irc_to_matrix', 1000],
      ]);
      expect(result.directions[0]?.steps[2]).toMatchObject({ rate: 500, pass: false, reason: 'p99 1500 ms' });
    });

    it('records a step that threw as failed with the error, and goes on with the other direction', async () => {
      const { result } = await run(10_000, { direction: 'matrix_to_irc', rate: 200 });
      expect(result.directions[0]?.highestPassingRate).toBe(100);
      expect(result.directions[0]?.steps[1]).toMatchObject({
        rate: 200, pass: false, lost: 400, lossPercent: 100, latencyMs: null,
        reason: 'error: IRC connection of observer is closed',
      });
      expect(result.directions[1]?.highestPassingRate).toBe(1000);
    });

    it('reports the highest passing rate and every step in markdown', async () => {
      const { result } = await run(200);
      const md = throughputMarkdown(result, 3);
      expect(md).toContain('### throughput: 1000 puppets in the channel, steps of 2 s');
      expect(md).toContain('| Matrix -> IRC | **200 msg/s** | 100, 200, 500 (failed) |');
      expect(md).toContain('| IRC -> Matrix | **1000 msg/s** or more (every step passed) | 100, 200, 500, 1000 |');
      expect(md).toContain('| Matrix -> IRC | 500 | 500 | 1000 | 1000 | 0 | 800 | 10 | 1500 | 2000 | 2 | fail: p99 1500 ms |');
      expect(md.split('\n').filter((l) => /^\| (Matrix|IRC) -> \S+ \| \d/.test(l))).toHaveLength(7);
    });
  });
});
