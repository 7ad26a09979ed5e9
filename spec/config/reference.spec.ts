import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { configSchema, loadConfig } from '../../src/config';
import { keyRows, leafPaths, renderReferenceTable } from '../../src/config/reference';

const ROOT = join(__dirname, '..', '..');
const DOCS = join(ROOT, 'docs', 'configuration.md');
const SAMPLE = join(ROOT, 'config.sample.yaml');
const BEGIN = /<!-- BEGIN GENERATED REFERENCE[^\n]*-->\n/;
const END = '<!-- END GENERATED REFERENCE -->';

describe('keyRows', () => {
  it('walks sections, map entries and list items with placeholders', () => {
    const paths = leafPaths(configSchema);
    expect(paths).toEqual(expect.arrayContaining([
      'homeserver.url', 'networks.<id>.port', 'networks.<id>.password', 'networks.<id>.mappings[].channel', 'logging.format',
    ]));
    expect(paths).not.toContain('networks.<id>.mappings');
    expect(keyRows(configSchema).map((r) => r.path)).toContain('networks.<id>.mappings');
  });

  it('gives every leaf a meaning', () => {
    expect(keyRows(configSchema).filter((r) => r.leaf && !r.node.docText).map((r) => r.path)).toEqual([]);
  });
});

describe('docs/configuration.md', () => {
  it('embeds the current reference table (UPDATE_DOCS=1 rewrites it)', () => {
    const docs = readFileSync(DOCS, 'utf8');
    const begin = BEGIN.exec(docs);
    const end = docs.indexOf(END);
    expect(begin && end > begin.index).toBeTruthy();
    const start = (begin?.index ?? 0) + (begin?.[0].length ?? 0);
    const table = renderReferenceTable(configSchema);
    if (process.env.UPDATE_DOCS === '1') {
      writeFileSync(DOCS, docs.slice(0, start) + table + docs.slice(end));
      return;
    }
    expect(docs.slice(start, end)).toBe(table);
  });

  it.each(leafPaths(configSchema))('mentions %s', (path) => {
    expect(readFileSync(DOCS, 'utf8')).toContain(`\`${path}\``);
  });
});

/** Values at a schema path in a raw document: `<id>` takes every map entry, `[]` every item. */
function valuesAt(raw: unknown, path: string): Array<{ at: string; present: boolean; value: unknown }> {
  const segments = path.split('.').flatMap((s) => (s.endsWith('[]') ? [s.slice(0, -2), '[]'] : [s]));
  let found = [{ at: '', present: true, value: raw }];
  for (const seg of segments) {
    found = found.flatMap(({ at, present, value }) => {
      const container = (value ?? {}) as Record<string, unknown>;
      if (!present) {
        return [{ at, present, value }];
      }
      if (seg === '<id>' || seg === '[]') {
        const keys = Object.keys(container);
        const where = (k: string) => (seg === '[]' ? `${at}[${k}]` : `${at}.${k}`);
        return keys.length === 0 ? [{ at: `${at}.${seg}`, present: false, value: undefined }]
          : keys.map((k) => ({ at: where(k), present: true, value: container[k] }));
      }
      const next = at ? `${at}.${seg}` : seg;
      return [{ at: next, present: Object.hasOwn(container, seg), value: container[seg] }];
    });
  }
  return found;
}

describe('config.sample.yaml', () => {
  const raw: unknown = yaml.load(readFileSync(SAMPLE, 'utf8'), { schema: yaml.CORE_SCHEMA });

  it('validates', () => {
    const config = loadConfig(SAMPLE);
    expect(Object.keys(config.networks)).toEqual(['example']);
    expect(config.networks.example?.host).toBe('irc.example.org');
  });

  it('starts with a "change these first" block', () => {
    const head = readFileSync(SAMPLE, 'utf8').split('\n').slice(0, 20).join('\n');
    expect(head).toMatch(/CHANGE THESE FIRST[\s\S]*homeserver\.url[\s\S]*homeserver\.domain[\s\S]*networks/);
  });

  it('writes out every leaf key', () => {
    const missing = leafPaths(configSchema).flatMap((p) => valuesAt(raw, p)).filter((v) => !v.present).map((v) => v.at);
    expect(missing).toEqual([]);
  });

  it('shows the default of every key it does not deliberately change', () => {
    const changed = new Set([
      'homeserver.url', 'homeserver.domain', 'networks.<id>.name', 'networks.<id>.host', 'networks.<id>.tls',
      'networks.<id>.mappings[].channel', 'networks.<id>.mappings[].room_id', 'networks.<id>.excluded_users[].regex',
    ]);
    const drifted = keyRows(configSchema)
      .filter((r) => r.leaf && !changed.has(r.path))
      .flatMap(({ path, node }) => valuesAt(raw, path).map((v) => ({ ...v, presence: node.presence })))
      .filter(({ value, presence }) => value !== null && !(presence.kind === 'value' && presence.value === value))
      .map(({ at, value }) => `${at}: ${JSON.stringify(value)}`);
    expect(drifted).toEqual([]);
  });
});
