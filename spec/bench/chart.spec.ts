import { escapeXml, linearTicks, logDomain, logTicks, renderChart, sweepChart, type SweepPoint } from '../../bench/chart';

const point = (n: number, over: Partial<SweepPoint> = {}): SweepPoint => ({
  n, rssKbPerPuppet: 60, rssLessFreeHeapKbPerPuppet: 40, heapKbPerPuppet: 30,
  m2iP50: 4, m2iP99: 17, i2mP50: 2.5, i2mP99: 9, ...over,
});

/** The attribute values of every element named `tag`. */
function elements(svg: string, tag: string): Array<Record<string, string>> {
  return [...svg.matchAll(new RegExp(`<${tag}\\b([^>]*)>`, 'g'))].map((m) =>
    Object.fromEntries([...(m[1] ?? '').matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1] as string, a[2] as string])));
}

describe('bench chart', () => {
  describe('linearTicks', () => {
    it('steps by 1, 2 or 5 times a power of ten from 0 to at least the maximum', () => {
      expect(linearTicks(83)).toEqual([0, 20, 40, 60, 80, 100]);
      expect(linearTicks(10)).toEqual([0, 2, 4, 6, 8, 10]);
      expect(linearTicks(0.7)).toEqual([0, 0.2, 0.4, 0.6, 0.8]);
      expect(linearTicks(1039)).toEqual([0, 500, 1000, 1500]);
    });

    it('reaches below 0 for negative values and copes with no range', () => {
      expect(linearTicks(30, 5, -12)).toEqual([-20, -10, 0, 10, 20, 30]);
      expect(linearTicks(0)).toEqual([0, 1]);
      expect(linearTicks(Number.NaN)).toEqual([0, 1]);
    });
  });

  describe('the log-scale x axis', () => {
    it('pads the domain around the data, and a single value by a factor of 2', () => {
      const [lo, hi] = logDomain([100, 1000, 4000]);
      expect(lo).toBeLessThan(100);
      expect(lo).toBeGreaterThan(50);
      expect(hi).toBeGreaterThan(4000);
      expect(hi).toBeLessThan(8000);
      expect(logDomain([300])).toEqual([150, 600]);
      expect(logDomain([])).toEqual([1, 10]);
    });

    it('ticks at every measured N and at powers of ten, dropping ticks that would overlap', () => {
      const domain = logDomain([20, 50, 100, 1000]);
      const toPx = (x: number): number => (Math.log10(x) - Math.log10(domain[0])) * 200;
      expect(logTicks([20, 50, 100, 1000], domain, toPx)).toEqual([20, 50, 100, 1000]);
      // 1000 and 1100 are 8 px apart: the second measured value goes.
      expect(logTicks([1000, 1100, 4000], logDomain([1000, 4000]), (x) => Math.log10(x) * 200)).toEqual([1000, 4000]);
    });
  });

  it('escapes text', () => {
    expect(escapeXml('a < b & "c" > d')).toBe('a &lt; b &amp; &quot;c&quot; &gt; d');
  });

  describe('sweepChart', () => {
    const svg = sweepChart([point(100, { rssLessFreeHeapKbPerPuppet: 83 }), point(1000), point(4000)], 'run <1> & 2');

    it('is one SVG document with a title, two panels, and escaped text', () => {
      expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
      expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
      expect(svg).toContain('<title>run &lt;1&gt; &amp; 2</title>');
      expect(svg.match(/<g class="panel">/g)).toHaveLength(2);
      expect(svg).toContain('>Memory per puppet</text>');
      expect(svg).toContain('>Message latency</text>');
      expect(svg).toContain('>KB per puppet</text>');
      expect(svg).toContain('>latency (ms)</text>');
      expect(svg).not.toMatch(/NaN|undefined|Infinity/);
    });

    it('has a line per series, a marker with a tooltip per figure and a legend entry per series', () => {
      expect(elements(svg, 'polyline')).toHaveLength(7);
      expect(elements(svg, 'circle')).toHaveLength(21);
      expect(svg).toContain('<title>RSS less free heap, after GC, N = 100: 83 KB</title>');
      expect(svg).toContain('<title>IRC -&gt; Matrix p99, N = 4000: 9 ms</title>');
      for (const name of ['RSS less free heap, after GC', 'live JS heap, after GC', 'RSS as found',
        'Matrix -&gt; IRC p50', 'Matrix -&gt; IRC p99', 'IRC -&gt; Matrix p50', 'IRC -&gt; Matrix p99']) {
        expect(svg).toContain(`>${name}</text>`);
      }
      // The p99 lines are dashed.
      expect(elements(svg, 'polyline').filter((p) => p['stroke-dasharray'] === '6 4')).toHaveLength(2);
    });

    it('labels the x ticks with the measured N and the y ticks with round values', () => {
      for (const label of ['100', '1000', '4000', '0', '20', '40', '60', '80', '100']) {
        expect(svg).toContain(`>${label}</text>`);
      }
    });

    it('puts a larger N further right and a larger value higher up', () => {
      const markers = elements(svg, 'circle').slice(0, 3).map((c) => ({ x: Number(c.cx), y: Number(c.cy) }));
      const [a, b, c] = markers as [{ x: number; y: number }, { x: number; y: number }, { x: number; y: number }];
      expect(a.x).toBeLessThan(b.x);
      expect(b.x).toBeLessThan(c.x);
      expect(a.y).toBeLessThan(b.y); // 83 KB is above 40 KB
      expect(b.y).toBe(c.y);
    });

    it('breaks a line where a figure is missing and leaves out series with no figures', () => {
      const gappy = sweepChart([point(10), point(100, { m2iP50: null }), point(1000)].map((p) => ({ ...p, heapKbPerPuppet: null })), 't');
      expect(gappy).not.toContain('live JS heap');
      // Matrix -> IRC p50 has two points either side of the gap: markers, no line.
      expect(gappy).toContain('<title>Matrix -&gt; IRC p50, N = 10: 4 ms</title>');
      expect(gappy).not.toContain('Matrix -&gt; IRC p50, N = 100:');
      expect(elements(gappy, 'polyline')).toHaveLength(5);
    });

    it('copes with a single N and with a panel that has no figures at all', () => {
      const one = sweepChart([point(300, { m2iP50: null, m2iP99: null, i2mP50: null, i2mP99: null })], 'one');
      expect(elements(one, 'circle')).toHaveLength(3);
      expect(elements(one, 'polyline')).toHaveLength(0);
      expect(one).toContain('>300</text>');
      expect(one).toContain('>not measured</text>');
      expect(one).not.toMatch(/NaN|undefined|Infinity/);
    });
  });

  it('renderChart draws negative values below a zero line', () => {
    const svg = renderChart([{
      title: 'p', yLabel: 'y', unit: 'KB',
      series: [{ name: 's', color: '#000', points: [{ x: 10, y: -5 }, { x: 100, y: 10 }] }],
    }], { title: 't', xLabel: 'x' });
    expect(svg).toContain('>-5</text>');
    const [low, high] = elements(svg, 'circle').map((c) => Number(c.cy)) as [number, number];
    expect(low).toBeGreaterThan(high);
  });
});
