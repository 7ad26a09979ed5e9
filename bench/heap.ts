/**
 * Reads two V8 heap snapshots of the bridge (before and after the puppets of `connect` joined,
 * `--heap-snapshot`) and says what the growth is made of: self size by kind of object
 * (constructor name for objects, the node type otherwise), per puppet.
 */
import * as fs from 'node:fs';

export interface HeapGroup {
  name: string;
  /** Growth between the two snapshots, in bytes per puppet, and in objects per puppet. */
  bytesPerPuppet: number;
  countPerPuppet: number;
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Self size and count per group of one snapshot. */
export function heapGroups(snap: Snapshot): Map<string, { bytes: number; count: number }> {
  const fields = snap.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = snap.snapshot.meta.node_types[0];
  const groups = new Map<string, { bytes: number; count: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt] as number] ?? '?';
    // Objects by constructor; closures by function name; the rest by type.
    const label = snap.strings[snap.nodes[i + nameAt] as number] ?? '';
    // Objects by constructor; closures by function name; internal arrays by what V8 calls them
    // (object properties, elements, ...); the rest by type.
    const name = type === 'object' ? label || '?'
      : type === 'closure' ? `(closure) ${label || '(anonymous)'}`
        : type === 'array' || type === 'hidden' ? `(${type}) ${label}`.trim()
          : `(${type})`;
    const g = groups.get(name) ?? { bytes: 0, count: 0 };
    g.bytes += snap.nodes[i + sizeAt] as number;
    g.count++;
    groups.set(name, g);
  }
  return groups;
}

export function heapGrowth(before: Map<string, { bytes: number; count: number }>,
  after: Map<string, { bytes: number; count: number }>, puppets: number, top = 20): HeapGroup[] {
  const rows: HeapGroup[] = [];
  for (const [name, a] of after) {
    const b = before.get(name) ?? { bytes: 0, count: 0 };
    rows.push({ name, bytesPerPuppet: (a.bytes - b.bytes) / puppets, countPerPuppet: (a.count - b.count) / puppets });
  }
  return rows.sort((x, y) => y.bytesPerPuppet - x.bytesPerPuppet).slice(0, top)
    .map((r) => ({ ...r, bytesPerPuppet: Math.round(r.bytesPerPuppet), countPerPuppet: Math.round(r.countPerPuppet * 10) / 10 }));
}

export function readHeapGroups(file: string): Map<string, { bytes: number; count: number }> {
  return heapGroups(JSON.parse(fs.readFileSync(file, 'utf8')) as Snapshot);
}
