/**
 * The appservice registration file, loaded at every start (new-registration.ts writes it with
 * `-r`). Reading needs only YAML and the namespace regexes, so it does not load
 * matrix-appservice-bridge (about a second of start-up).
 */
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';

export interface Registration {
  id: string;
  hsToken: string;
  asToken: string;
  url: string | null;
  senderLocalpart: string;
  rateLimited: boolean | undefined;
  isUserMatch(userId: string, exclusiveOnly: boolean): boolean;
  isAliasMatch(alias: string, exclusiveOnly: boolean): boolean;
}

export class RegistrationError extends Error {
  constructor(readonly problems: string[], path: string) {
    super(`Invalid registration ${path}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'RegistrationError';
  }
}

export function loadRegistration(path: string): Registration {
  let raw: unknown;
  try {
    raw = yaml.load(readFileSync(path, 'utf8'), { schema: yaml.CORE_SCHEMA });
  } catch (err) {
    throw new RegistrationError([`cannot read: ${(err as Error).message}`], path);
  }
  const o = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of ['id', 'hs_token', 'as_token', 'sender_localpart']) {
    if (typeof o[key] !== 'string' || o[key] === '') {
      problems.push(`${key}: required (a non-empty string)`);
    }
  }
  if (o.url !== null && o.url !== undefined && typeof o.url !== 'string') {
    problems.push('url: expected a string or null');
  }
  const namespaces = (typeof o.namespaces === 'object' && o.namespaces !== null ? o.namespaces : {}) as Record<string, unknown>;
  if (o.namespaces !== undefined && o.namespaces !== null && (typeof o.namespaces !== 'object' || Array.isArray(o.namespaces))) {
    problems.push('namespaces: expected a mapping');
  }
  const users = namespaceRules(namespaces, 'users', problems);
  const aliases = namespaceRules(namespaces, 'aliases', problems);
  if (problems.length > 0) {
    throw new RegistrationError(problems, path);
  }
  return {
    id: o.id as string,
    hsToken: o.hs_token as string,
    asToken: o.as_token as string,
    url: (o.url as string | null | undefined) ?? null,
    senderLocalpart: o.sender_localpart as string,
    rateLimited: typeof o.rate_limited === 'boolean' ? o.rate_limited : undefined,
    isUserMatch: (u, ex) => matches(users, u, ex),
    isAliasMatch: (a, ex) => matches(aliases, a, ex),
  };
}

interface NamespaceRule {
  regex: RegExp;
  exclusive: boolean;
}

/** `namespaces.<kind>`: a list of `{ regex, exclusive }`, as homeservers read it. */
function namespaceRules(namespaces: Record<string, unknown>, kind: string, problems: string[]): NamespaceRule[] {
  const list = namespaces[kind];
  if (list === undefined || list === null) {
    return [];
  }
  if (!Array.isArray(list)) {
    problems.push(`namespaces.${kind}: expected a list`);
    return [];
  }
  const rules: NamespaceRule[] = [];
  list.forEach((entry: unknown, i) => {
    const e = (typeof entry === 'object' && entry !== null ? entry : {}) as { regex?: unknown; exclusive?: unknown };
    if (typeof e.regex !== 'string') {
      problems.push(`namespaces.${kind}[${i}].regex: required (a string)`);
      return;
    }
    try {
      rules.push({ regex: new RegExp(e.regex), exclusive: e.exclusive === true });
    } catch (err) {
      problems.push(`namespaces.${kind}[${i}].regex: not a regular expression (${(err as Error).message})`);
    }
  });
  return rules;
}

/** Does a rule match `sample` (anywhere, as homeservers test it)? With `exclusiveOnly`, only
 *  exclusive rules count. */
function matches(rules: readonly NamespaceRule[], sample: string, exclusiveOnly: boolean): boolean {
  return rules.some((r) => r.regex.test(sample) && (!exclusiveOnly || r.exclusive));
}
