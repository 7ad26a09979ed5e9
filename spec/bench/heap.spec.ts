import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import { heapGroups, heapGrowth, readHeapGroups } from '../../bench/heap';

/** A hand-made snapshot in V8's layout: nodes are flat rows of node_fields. */
function snapshot(nodes: Array<[type: string, name: string, size: number]>): Parameters<typeof heapGroups>[0] {
  const types = ['hidden', 'array', 'string', 'object', 'code', 'closure'];
  const strings: string[] = [];
  const str = (s: string): number => (strings.includes(s) ? strings.indexOf(s) : strings.push(s) - 1);
  return {
    snapshot: { meta: { node_fields: ['type', 'name', 'id', 'self_size', 'edge_count'], node_types: [types] } },
    nodes: nodes.flatMap(([type, name, size], i) => [types.indexOf(type), str(name), i + 1, size, 0]),
    strings,
  };
}

describe('bench heap snapshot summary', () => {
  it('groups objects by constructor, closures by name, internal arrays by kind, the rest by type', () => {
    const g = heapGroups(snapshot([
      ['object', 'Client', 100], ['object', 'Client', 100], ['closure', 'onLine', 32], ['closure', '', 32],
      ['array', '(object properties)', 400], ['string', 'hello', 24], ['string', 'world', 24], ['code', 'x', 8],
    ]));
    expect(Object.fromEntries(g)).toEqual({
      Client: { bytes: 200, count: 2 },
      '(closure) onLine': { bytes: 32, count: 1 },
      '(closure) (anonymous)': { bytes: 32, count: 1 },
      '(array) (object properties)': { bytes: 400, count: 1 },
      '(string)': { bytes: 48, count: 2 },
      '(code)': { bytes: 8, count: 1 },
    });
  });

  it('reports the growth per puppet, largest first, including kinds that did not exist before', () => {
    const before = heapGroups(snapshot([['object', 'Client', 100], ['string', 's', 10]]));
    const after = heapGroups(snapshot([
      ['object', 'Client', 100], ['object', 'Client', 300], ['object', 'Client', 300],
      ['string', 's', 10], ['string', 't', 30], ['array', '(object elements)', 50],
    ]));
    expect(heapGrowth(before, after, 2)).toEqual([
      { name: 'Client', bytesPerPuppet: 300, countPerPuppet: 1 },
      { name: '(array) (object elements)', bytesPerPuppet: 25, countPerPuppet: 0.5 },
      { name: '(string)', bytesPerPuppet: 15, countPerPuppet: 0.5 },
    ]);
  });

  it('reads a real snapshot written by V8', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'heap-spec-')), 'x.heapsnapshot');
    try {
      v8.writeHeapSnapshot(file);
      const groups = readHeapGroups(file);
      expect(groups.get('Object')?.count ?? 0).toBeGreaterThan(0);
      expect(groups.get('(string)')?.bytes ?? 0).toBeGreaterThan(0);
    } finally {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });
});
