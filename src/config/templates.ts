/**
 * Name templates such as `$NETWORK_$NICK`: literal text with `$NAME` variables, where a name is a
 * run of capital letters (so `$NETWORK_$NICK` is `$NETWORK`, `_`, `$NICK`). The config validates
 * templates here; the bridge renders them with `renderTemplate`.
 */
import { str, type StrNode, type Report } from './schema';

export type TemplatePart = { readonly literal: string } | { readonly variable: string };

const VARIABLE = /\$([A-Z]+)/g;

/** Parsed templates: the config has a handful, rendered for every puppet and ghost. */
const parsed = new Map<string, readonly TemplatePart[]>();
const PARSED_MAX = 256;

export function parseTemplate(template: string): readonly TemplatePart[] {
  let parts = parsed.get(template);
  if (parts === undefined) {
    parts = parseTemplateText(template);
    if (parsed.size >= PARSED_MAX) {
      parsed.clear();
    }
    parsed.set(template, parts);
  }
  return parts;
}

function parseTemplateText(template: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let last = 0;
  for (const m of template.matchAll(VARIABLE)) {
    if (m.index > last) {
      parts.push({ literal: template.slice(last, m.index) });
    }
    parts.push({ variable: m[1] ?? '' });
    last = m.index + m[0].length;
  }
  if (last < template.length) {
    parts.push({ literal: template.slice(last) });
  }
  return parts;
}

/** Substitutes every variable; a variable missing from `values` is a programming error. */
export function renderTemplate(template: string, values: Readonly<Record<string, string>>): string {
  return parseTemplate(template)
    .map((part) => {
      if ('literal' in part) {
        return part.literal;
      }
      const value = values[part.variable];
      if (value === undefined) {
        throw new Error(`renderTemplate: no value for $${part.variable}`);
      }
      return value;
    })
    .join('');
}

export interface TemplateRule {
  /** Variable names without `$`. */
  readonly allowed: readonly string[];
  /** At least one of these must appear. */
  readonly requireOneOf?: readonly string[];
  /** Every literal character must match this (one character) pattern. */
  readonly literalChars?: RegExp;
  readonly literalText?: string;
}

const dollars = (names: readonly string[]): string => names.map((n) => `$${n}`).join(', ');

export function checkTemplate(template: string, rule: TemplateRule, report: Report): void {
  const parts = parseTemplate(template);
  const used = new Set<string>();
  for (const part of parts) {
    if ('variable' in part) {
      used.add(part.variable);
      if (!rule.allowed.includes(part.variable)) {
        report(`unknown variable $${part.variable} (allowed: ${dollars(rule.allowed)})`);
      }
    } else if (part.literal.includes('$')) {
      report(`$ must start a variable in capitals (allowed: ${dollars(rule.allowed)})`);
    } else if (rule.literalChars && ![...part.literal].every((c) => rule.literalChars?.test(c))) {
      report(`literal text may only contain ${rule.literalText ?? rule.literalChars.source}`);
    }
  }
  const need = rule.requireOneOf;
  if (need && !need.some((n) => used.has(n))) {
    report(`must contain ${need.map((n) => `$${n}`).join(' or ')}`);
  }
}

/** A string node that is also a template following `rule`. */
export const template = (rule: TemplateRule): StrNode =>
  str({ typeText: `template using ${dollars(rule.allowed)}` }).refine((value, report) =>
    checkTemplate(value, rule, report),
  );

export interface LiteralEnds {
  readonly prefix: string;
  readonly suffix: string;
}

/**
 * The fixed text before the first and after the last variable once `$NETWORK` is replaced by
 * `networkId`. Two templates whose rendered prefixes differ (neither starts the other), or whose
 * suffixes differ (neither ends the other), can never render the same string.
 */
export function literalEnds(template: string, networkId: string): LiteralEnds {
  const parts = parseTemplate(template).map((p) =>
    'variable' in p && p.variable === 'NETWORK' ? { literal: networkId } : p,
  );
  const firstVar = parts.findIndex((p) => 'variable' in p);
  if (firstVar < 0) {
    const all = parts.map((p) => ('literal' in p ? p.literal : '')).join('');
    return { prefix: all, suffix: all };
  }
  const lastVar = parts.length - 1 - [...parts].reverse().findIndex((p) => 'variable' in p);
  const text = (ps: TemplatePart[]): string => ps.map((p) => ('literal' in p ? p.literal : '')).join('');
  return { prefix: text(parts.slice(0, firstVar)), suffix: text(parts.slice(lastVar + 1)) };
}

export function mayOverlap(a: LiteralEnds, b: LiteralEnds): boolean {
  const prefixesClash = a.prefix.startsWith(b.prefix) || b.prefix.startsWith(a.prefix);
  const suffixesClash = a.suffix.endsWith(b.suffix) || b.suffix.endsWith(a.suffix);
  return prefixesClash && suffixesClash;
}
