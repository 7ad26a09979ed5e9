/**
 * A small schema DSL. Each node validates one value, knows its default, and documents itself
 * (`docText`, `riskText`, `presence`, `typeText`). The TypeScript type of a value is inferred from
 * its node (`Infer<typeof node>`), so types, defaults, validation and docs come from one place.
 *
 * Validation never stops at the first problem: every node reports into `site.problems`, each
 * problem prefixed with the dotted key path (`networks.libera.port: expected an integer`).
 * A YAML null (an empty value) counts as absent, so `port:` means "use the default"; only
 * `nullable(...)` nodes accept null as a value.
 */

export const INVALID: unique symbol = Symbol('invalid');
export type Invalid = typeof INVALID;

/** Where a value sits in the document. */
export interface Site {
  /** Dotted key path, e.g. `networks.libera.mappings[2].channel`; '' for the root. */
  readonly path: string;
  /** The key under which the value sits in its parent: a field name, a map key or an index. */
  readonly key: string;
  readonly problems: string[];
}

/** Reports a problem at the node's path, or at `path + subpath` (`.field`, `[2].channel`). */
export type Report = (message: string, subpath?: string) => void;

/** Method syntax keeps Node<T> covariant, so a Node<string> is a Node<unknown>. */
interface Refinement<T> {
  run(value: T, report: Report): void;
}

export type Presence<T> =
  /** Absent -> `<path>: required`. */
  | { readonly kind: 'required' }
  /** Absent -> this raw value is parsed in its place (so defaults are validated too). */
  | { readonly kind: 'value'; readonly value: unknown; readonly text?: string }
  /** Absent -> computed from the already-parsed siblings and the key of the enclosing object. */
  | {
      readonly kind: 'derived';
      readonly text: string;
      derive(siblings: Readonly<Record<string, unknown>>, ownerKey: string): T | undefined;
    };

export type NodeKind =
  | 'string' | 'url' | 'integer' | 'number' | 'boolean' | 'enum' | 'nullable' | 'object' | 'map' | 'list';

export const joinPath = (path: string, key: string): string => (path ? `${path}.${key}` : key);
const childSite = (site: Site, path: string, key: string): Site => ({ path, key, problems: site.problems });
const isMapping = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export abstract class Node<T> {
  /** Phantom: carries T for `Infer`. Never set at run time. */
  declare readonly __infer: T;
  abstract readonly kind: NodeKind;
  /** Accepted values in words, for the docs (`integer 1..65535`). */
  abstract readonly typeText: string;
  readonly docText: string = '';
  readonly riskText: string | undefined = undefined;
  readonly presence: Presence<T> = { kind: 'required' };
  protected readonly refinements: readonly Refinement<T>[] = [];
  /** Maps run their refinements on their valid entries even when other entries failed. */
  protected readonly refinesPartial: boolean = false;

  doc(text: string): this {
    return this.with({ docText: text });
  }
  risk(text: string): this {
    return this.with({ riskText: text });
  }
  /** `text` overrides how the docs show the default. */
  default(value: T, text?: string): this {
    return this.with({ presence: { kind: 'value', value, text } });
  }
  derive(text: string, derive: (siblings: Readonly<Record<string, unknown>>, ownerKey: string) => T | undefined): this {
    return this.with({ presence: { kind: 'derived', text, derive } });
  }
  /** Extra checks, run once the value itself is valid. */
  refine(run: (value: T, report: Report) => void): this {
    return this.with({ refinements: [...this.refinements, { run }] });
  }

  /** Validates `raw` (never undefined); reports into `site.problems`; INVALID when any problem. */
  parse(raw: unknown, site: Site): T | Invalid {
    const before = site.problems.length;
    const value = this.check(raw, site);
    if (value === INVALID) {
      return INVALID;
    }
    if (site.problems.length === before || this.refinesPartial) {
      const report: Report = (message, subpath = '') =>
        site.problems.push(`${site.path || 'config'}${subpath}: ${message}`);
      for (const r of this.refinements) {
        r.run(value, report);
      }
    }
    return site.problems.length === before ? value : INVALID;
  }

  /**
   * Checks the value itself. A container that reports a problem below it still returns what was
   * valid (so map refinements can run on it); `parse` turns that into INVALID.
   */
  protected abstract check(raw: unknown, site: Site): T | Invalid;

  protected fail(site: Site, message: string): Invalid {
    site.problems.push(`${site.path || 'config'}: ${message}`);
    return INVALID;
  }

  protected with(patch: Record<string, unknown>): this {
    return Object.assign(Object.create(Object.getPrototypeOf(this) as object) as this, this, patch);
  }
}

export type Infer<N> = N extends Node<infer T> ? T : never;

export interface StrOptions {
  /** Whole-value pattern; on mismatch the problem is `expected <expect>`. */
  readonly pattern?: RegExp;
  readonly expect?: string;
  readonly maxLength?: number;
  readonly allowEmpty?: boolean;
  /** How the docs describe accepted values; defaults to `string: <expect>`. */
  readonly typeText?: string;
}

/** Strings never contain CR, LF or NUL: many of them end up in IRC lines. */
export class StrNode extends Node<string> {
  readonly kind = 'string';
  constructor(readonly options: StrOptions) {
    super();
  }
  get typeText(): string {
    const { typeText, expect } = this.options;
    return typeText ?? (expect ? `string: ${expect}` : 'string');
  }
  protected check(raw: unknown, site: Site): string | Invalid {
    const { pattern, expect, maxLength, allowEmpty } = this.options;
    if (typeof raw !== 'string') {
      return this.fail(site, 'expected a string');
    }
    if (/[\r\n\0]/.test(raw)) {
      return this.fail(site, 'must not contain line breaks or NUL characters');
    }
    if (raw === '' && !allowEmpty) {
      return this.fail(site, 'must not be empty');
    }
    if (maxLength !== undefined && raw.length > maxLength) {
      return this.fail(site, `must be at most ${maxLength} characters`);
    }
    if (pattern && !pattern.test(raw)) {
      return this.fail(site, `expected ${expect ?? `to match ${pattern.source}`}`);
    }
    return raw;
  }
}

/** An http(s) URL; trailing slashes are stripped so callers can append `/path`. */
export class UrlNode extends Node<string> {
  readonly kind = 'url';
  readonly typeText = 'http:// or https:// URL';
  protected check(raw: unknown, site: Site): string | Invalid {
    if (typeof raw !== 'string') {
      return this.fail(site, 'expected a string');
    }
    let url: URL | undefined;
    try {
      url = new URL(raw);
    } catch {
      url = undefined;
    }
    if (!url || !/^https?:$/.test(url.protocol) || /\s/.test(raw) || url.search || url.hash) {
      return this.fail(site, 'expected an http:// or https:// URL');
    }
    return raw.replace(/\/+$/, '');
  }
}

export class IntNode extends Node<number> {
  readonly kind = 'integer';
  constructor(readonly min: number, readonly max: number) {
    super();
  }
  get typeText(): string {
    return `integer ${this.min}..${this.max}`;
  }
  protected check(raw: unknown, site: Site): number | Invalid {
    if (typeof raw !== 'number' || !Number.isInteger(raw)) {
      return this.fail(site, 'expected an integer');
    }
    if (raw < this.min || raw > this.max) {
      return this.fail(site, `expected an integer between ${this.min} and ${this.max}`);
    }
    return raw;
  }
}

export class NumNode extends Node<number> {
  readonly kind = 'number';
  constructor(readonly min: number, readonly max: number, readonly minExclusive: boolean) {
    super();
  }
  get typeText(): string {
    return `number ${this.minExclusive ? '>' : '>='} ${this.min}, <= ${this.max}`;
  }
  protected check(raw: unknown, site: Site): number | Invalid {
    if (typeof raw !== 'number' || !Number.isFinite(raw)) {
      return this.fail(site, 'expected a number');
    }
    if ((this.minExclusive ? raw <= this.min : raw < this.min) || raw > this.max) {
      const low = this.minExclusive ? `greater than ${this.min}` : `at least ${this.min}`;
      return this.fail(site, `expected a number ${low} and at most ${this.max}`);
    }
    return raw;
  }
}

export class BoolNode extends Node<boolean> {
  readonly kind = 'boolean';
  readonly typeText = 'boolean';
  protected check(raw: unknown, site: Site): boolean | Invalid {
    return typeof raw === 'boolean' ? raw : this.fail(site, 'expected true or false');
  }
}

export class EnumNode<V extends string> extends Node<V> {
  readonly kind = 'enum';
  constructor(readonly values: readonly V[]) {
    super();
  }
  get typeText(): string {
    return `one of ${this.values.join(', ')}`;
  }
  protected check(raw: unknown, site: Site): V | Invalid {
    return this.values.includes(raw as V) ? raw as V : this.fail(site, `expected ${this.typeText}`);
  }
}

export class NullableNode<T> extends Node<T | null> {
  readonly kind = 'nullable';
  constructor(readonly inner: Node<T>) {
    super();
  }
  get typeText(): string {
    return `${this.inner.typeText}, or null`;
  }
  protected check(raw: unknown, site: Site): T | null | Invalid {
    if (raw === null) {
      return null;
    }
    const value = this.inner.parse(raw, site);
    return value === INVALID ? INVALID : value;
  }
}

export type Fields = Readonly<Record<string, Node<unknown>>>;

/** True when an absent or null field takes its presence rule rather than being parsed. */
const isAbsent = (raw: unknown, node: Node<unknown>): boolean =>
  raw === undefined || (raw === null && node.kind !== 'nullable');

/** The mapped type is written out in place, not as an alias, so editors show inferred types expanded. */
export class ObjNode<F extends Fields> extends Node<{ readonly [K in keyof F]: Infer<F[K]> }> {
  readonly kind = 'object';
  readonly typeText = 'section';
  constructor(readonly fields: F) {
    super();
  }
  /** Absent means an empty section: every key takes its default. */
  omittable(): this {
    return this.with({ presence: { kind: 'value', value: {}, text: 'all defaults' } });
  }
  protected check(raw: unknown, site: Site): { readonly [K in keyof F]: Infer<F[K]> } | Invalid {
    if (!isMapping(raw)) {
      return this.fail(site, 'expected a mapping');
    }
    for (const key of Object.keys(raw)) {
      if (!Object.hasOwn(this.fields, key)) {
        this.fail(childSite(site, joinPath(site.path, key), key), 'unknown key');
      }
    }
    const out: Record<string, unknown> = {};
    const derived: string[] = [];
    for (const [key, node] of Object.entries(this.fields)) {
      const at = childSite(site, joinPath(site.path, key), key);
      const p = node.presence;
      const absent = isAbsent(raw[key], node);
      if (absent && p.kind === 'derived') {
        derived.push(key);
        continue;
      }
      if (absent && p.kind === 'required') {
        this.fail(at, 'required');
        continue;
      }
      const value = node.parse(absent && p.kind === 'value' ? structuredClone(p.value) : raw[key], at);
      if (value !== INVALID) {
        out[key] = value;
      }
    }
    for (const key of derived) {
      const p = this.fields[key]?.presence;
      // undefined when a sibling it depends on was invalid, which has been reported
      const value = p?.kind === 'derived' ? p.derive(out, site.key) : undefined;
      if (value !== undefined) {
        out[key] = value;
      }
    }
    const ordered = Object.fromEntries(Object.keys(this.fields).filter((k) => k in out).map((k) => [k, out[k]]));
    return ordered as { readonly [K in keyof F]: Infer<F[K]> };
  }
}

export class MapNode<V> extends Node<Readonly<Record<string, V>>> {
  readonly kind = 'map';
  protected override readonly refinesPartial = true;
  constructor(
    readonly value: Node<V>,
    readonly key: { readonly pattern: RegExp; readonly name: string; readonly rule: string; readonly placeholder: string },
    readonly minEntries: number,
  ) {
    super();
  }
  get typeText(): string {
    return `map of ${this.key.name} to ${this.value.typeText}`;
  }
  protected check(raw: unknown, site: Site): Readonly<Record<string, V>> | Invalid {
    if (!isMapping(raw)) {
      return this.fail(site, 'expected a mapping');
    }
    const entries = Object.keys(raw);
    if (entries.length < this.minEntries) {
      return this.fail(site, `expected at least ${this.minEntries} ${this.minEntries === 1 ? 'entry' : 'entries'}`);
    }
    const out: Record<string, V> = {};
    for (const key of entries) {
      const at = childSite(site, joinPath(site.path, key), key);
      const value = this.key.pattern.test(key)
        ? this.value.parse(raw[key], at)
        : this.fail(at, `invalid ${this.key.name}: ${this.key.rule}`);
      if (value !== INVALID) {
        out[key] = value;
      }
    }
    return out;
  }
}

interface Unique<V> {
  readonly field: keyof V & string;
  fold(value: string): string;
}

export class ListNode<V> extends Node<readonly V[]> {
  readonly kind = 'list';
  readonly uniques: readonly Unique<V>[] = [];
  constructor(readonly item: Node<V>) {
    super();
  }
  get typeText(): string {
    const item = this.item instanceof ObjNode ? `{${Object.keys(this.item.fields).join(', ')}}` : this.item.typeText;
    return `list of ${item}`;
  }
  /** No two items may share `field` (compared after `fold`). */
  unique(field: keyof V & string, fold: (value: string) => string = (v) => v): this {
    return this.with({ uniques: [...this.uniques, { field, fold }] });
  }
  protected check(raw: unknown, site: Site): readonly V[] | Invalid {
    if (!Array.isArray(raw)) {
      return this.fail(site, 'expected a list');
    }
    const items = raw.map((item: unknown, i) => this.item.parse(item, childSite(site, `${site.path}[${i}]`, String(i))));
    const name = site.path.slice(site.path.lastIndexOf('.') + 1);
    for (const { field, fold } of this.uniques) {
      const seen = new Map<string, number>();
      items.forEach((item, i) => {
        const value = item === INVALID ? undefined : item[field];
        if (typeof value !== 'string') {
          return;
        }
        const first = seen.get(fold(value));
        if (first === undefined) {
          seen.set(fold(value), i);
        } else {
          site.problems.push(`${site.path}[${i}].${field}: duplicates ${name}[${first}]`);
        }
      });
    }
    return items.filter((item): item is V => item !== INVALID);
  }
}

export const str = (options: StrOptions = {}): StrNode => new StrNode(options);
export const url = (): UrlNode => new UrlNode();
export const int = ({ min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = {}): IntNode =>
  new IntNode(min, max);
/** `gt` is an exclusive lower bound, `min` an inclusive one. */
export const num = (opts: { min?: number; gt?: number; max?: number } = {}): NumNode =>
  new NumNode(opts.gt ?? opts.min ?? -Number.MAX_VALUE, opts.max ?? Number.MAX_VALUE, opts.gt !== undefined);
export const bool = (): BoolNode => new BoolNode();
export const enumOf = <const V extends string>(values: readonly V[]): EnumNode<V> => new EnumNode(values);
export const nullable = <T>(inner: Node<T>): NullableNode<T> => new NullableNode(inner);
export const obj = <F extends Fields>(fields: F): ObjNode<F> => new ObjNode(fields);
/** A section that may be omitted entirely: absent means every key takes its default. */
export const section = <F extends Fields>(fields: F): ObjNode<F> =>
  new ObjNode(fields).omittable();
export const listOf = <V>(item: Node<V>): ListNode<V> => new ListNode(item);
export const mapOf = <V>(
  value: Node<V>,
  key: { pattern: RegExp; name: string; rule: string; placeholder: string },
  { minEntries = 0 } = {},
): MapNode<V> => new MapNode(value, key, minEntries);
