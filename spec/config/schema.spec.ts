import {
  INVALID, bool, enumOf, int, listOf, mapOf, nullable, num, obj, section, str, url,
  type Infer, type Node,
} from '../../src/config/schema';

function run<T>(node: Node<T>, raw: unknown, path = 'x'): { value: T | typeof INVALID; problems: string[] } {
  const problems: string[] = [];
  const value = node.parse(raw, { path, key: path, problems });
  return { value, problems };
}

describe('leaf nodes', () => {
  const cases: Array<{ name: string; node: Node<unknown>; raw: unknown; value?: unknown; problem?: string }> = [
    { name: 'str accepts a string', node: str(), raw: 'abc', value: 'abc' },
    { name: 'str rejects a number', node: str(), raw: 5, problem: 'x: expected a string' },
    { name: 'str rejects CR/LF', node: str(), raw: 'a\r\nQUIT', problem: 'x: must not contain line breaks or NUL characters' },
    { name: 'str rejects NUL', node: str(), raw: 'a\0b', problem: 'x: must not contain line breaks or NUL characters' },
    { name: 'str rejects empty', node: str(), raw: '', problem: 'x: must not be empty' },
    { name: 'str allows empty on request', node: str({ allowEmpty: true }), raw: '', value: '' },
    { name: 'str max length', node: str({ maxLength: 3 }), raw: 'abcd', problem: 'x: must be at most 3 characters' },
    { name: 'str pattern', node: str({ pattern: /^a+$/, expect: 'only a' }), raw: 'ab', problem: 'x: expected only a' },
    { name: 'url strips trailing slashes', node: url(), raw: 'https://h.example/p//', value: 'https://h.example/p' },
    { name: 'url keeps http', node: url(), raw: 'http://localhost:8008', value: 'http://localhost:8008' },
    { name: 'url rejects other schemes', node: url(), raw: 'ftp://h', problem: 'x: expected an http:// or https:// URL' },
    { name: 'url rejects no scheme', node: url(), raw: 'matrix.org', problem: 'x: expected an http:// or https:// URL' },
    { name: 'url rejects a query', node: url(), raw: 'https://h/?a=1', problem: 'x: expected an http:// or https:// URL' },
    { name: 'url rejects a number', node: url(), raw: 1, problem: 'x: expected a string' },
    { name: 'int accepts an integer', node: int({ min: 1, max: 9 }), raw: 9, value: 9 },
    { name: 'int rejects a string', node: int(), raw: '5', problem: 'x: expected an integer' },
    { name: 'int rejects a fraction', node: int(), raw: 1.5, problem: 'x: expected an integer' },
    { name: 'int range', node: int({ min: 1, max: 9 }), raw: 0, problem: 'x: expected an integer between 1 and 9' },
    { name: 'num accepts a fraction', node: num({ gt: 0, max: 10 }), raw: 0.5, value: 0.5 },
    { name: 'num exclusive minimum', node: num({ gt: 0, max: 10 }), raw: 0, problem: 'x: expected a number greater than 0 and at most 10' },
    { name: 'num inclusive minimum', node: num({ min: 1, max: 10 }), raw: 11, problem: 'x: expected a number at least 1 and at most 10' },
    { name: 'num rejects a string', node: num(), raw: '1', problem: 'x: expected a number' },
    { name: 'bool accepts false', node: bool(), raw: false, value: false },
    { name: 'bool rejects yes', node: bool(), raw: 'yes', problem: 'x: expected true or false' },
    { name: 'enum accepts a member', node: enumOf(['a', 'b']), raw: 'b', value: 'b' },
    { name: 'enum rejects others', node: enumOf(['a', 'b']), raw: 'A', problem: 'x: expected one of a, b' },
    { name: 'nullable accepts null', node: nullable(str()), raw: null, value: null },
    { name: 'nullable checks the inner node', node: nullable(str()), raw: 3, problem: 'x: expected a string' },
    { name: 'refine reports at the path', node: str().refine((v, report) => v === 'no' && report('said no')), raw: 'no', problem: 'x: said no' },
  ];

  it.each(cases)('$name', ({ node, raw, value, problem }) => {
    const result = run(node, raw);
    if (problem === undefined) {
      expect(result).toEqual({ value, problems: [] });
    } else {
      expect(result).toEqual({ value: INVALID, problems: [problem] });
    }
  });
});

describe('obj', () => {
  const node = obj({
    a: int(),
    b: int().default(2),
    c: int().derive('a + 1', (s) => (typeof s.a === 'number' ? s.a + 1 : undefined)),
    d: nullable(str()).default(null),
    s: section({ e: bool().default(true) }),
  });

  it('applies constant and derived defaults, and empty sections', () => {
    expect(run(node, { a: 1 }).value).toEqual({ a: 1, b: 2, c: 2, d: null, s: { e: true } });
  });

  it('treats null as absent except where null is allowed', () => {
    expect(run(node, { a: 1, b: null, c: null, d: null, s: null }).value).toEqual({ a: 1, b: 2, c: 2, d: null, s: { e: true } });
  });

  it('returns keys in schema order', () => {
    expect(Object.keys(run(node, { s: {}, c: 5, a: 1 }).value as object)).toEqual(['a', 'b', 'c', 'd', 's']);
  });

  it('collects every problem: unknown keys, missing keys, nested ones', () => {
    expect(run(node, { zz: 1, b: 'x', s: { f: 1 } }).problems).toEqual([
      'x.zz: unknown key',
      'x.a: required',
      'x.b: expected an integer',
      'x.s.f: unknown key',
    ]);
  });

  it('rejects a non-mapping, naming the root "config"', () => {
    expect(run(node, [1], '').problems).toEqual(['config: expected a mapping']);
  });

  it('validates defaults like written values', () => {
    expect(run(obj({ p: int({ min: 1, max: 2 }).default(5) }), {}).problems).toEqual(['x.p: expected an integer between 1 and 2']);
  });
});

describe('mapOf and listOf', () => {
  const key = { pattern: /^[a-z]+$/, name: 'thing id', rule: 'lowercase letters', placeholder: '<id>' };
  const item = obj({ n: str(), m: str().default('z') });

  it('checks keys and entries, and a minimum size', () => {
    const node = mapOf(int(), key, { minEntries: 1 });
    expect(run(node, { ok: 1, Bad: 2, bad: 'x' }).problems).toEqual([
      'x.Bad: invalid thing id: lowercase letters',
      'x.bad: expected an integer',
    ]);
    expect(run(node, {}).problems).toEqual(['x: expected at least 1 entry']);
    expect(run(node, []).problems).toEqual(['x: expected a mapping']);
  });

  it('runs map refinements on the valid entries even when others failed', () => {
    const node = mapOf(int(), key).refine((m, report) => report(`saw ${Object.keys(m).join(',')}`));
    expect(run(node, { a: 1, b: 'x', c: 3 }).problems).toEqual(['x.b: expected an integer', 'x: saw a,c']);
  });

  it('names list items by index', () => {
    expect(run(listOf(item), [{ n: 'a' }, { n: 1 }, null, 'q']).problems).toEqual([
      'x[1].n: expected a string',
      'x[2]: expected a mapping',
      'x[3]: expected a mapping',
    ]);
    expect(run(listOf(item), { n: 'a' }).problems).toEqual(['x: expected a list']);
  });

  it('reports duplicates naming both indexes, after folding', () => {
    const node = listOf(item).unique('n', (v) => v.toLowerCase()).unique('m');
    const raw = [{ n: 'a', m: 'p' }, { n: 'b', m: 'q' }, { n: 'A', m: 'r' }, { n: 'c', m: 'q' }];
    expect(run(node, raw, 'net.items').problems).toEqual([
      'net.items[2].n: duplicates items[0]',
      'net.items[3].m: duplicates items[1]',
    ]);
  });

  it('still finds duplicates among valid items when one item is invalid', () => {
    const node = listOf(item).unique('n');
    expect(run(node, [{ n: 'a' }, { n: 'a', m: 5 }, { n: 'a' }]).problems).toEqual([
      'x[1].m: expected a string',
      'x[2].n: duplicates x[0]',
    ]);
  });
});

describe('builders', () => {
  it('never mutate the node they are called on', () => {
    const base = int();
    const withDefault = base.default(3).doc('d').risk('r');
    expect(base.presence).toEqual({ kind: 'required' });
    expect([base.docText, base.riskText]).toEqual(['', undefined]);
    expect([withDefault.docText, withDefault.riskText, withDefault.kind]).toEqual(['d', 'r', 'integer']);
    expect(withDefault).toBeInstanceOf(base.constructor);
  });

  it('infer the value type', () => {
    const node = obj({ a: int(), b: nullable(str()), c: enumOf(['x', 'y']), l: listOf(obj({ k: bool() })) });
    type T = Infer<typeof node>;
    const good: T = { a: 1, b: null, c: 'y', l: [{ k: true }] };
    // @ts-expect-error c only allows x or y
    const bad: T = { a: 1, b: 'q', c: 'z', l: [] };
    // @ts-expect-error values are read-only
    good.a = 2;
    expect(run(node, good).value).toEqual(good);
    expect(run(node, bad).problems).toEqual(['x.c: expected one of x, y']);
  });
});
