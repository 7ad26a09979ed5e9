/**
 * The appservice registration file: generated once by `-r`, loaded at every start. Uses
 * matrix-appservice-bridge's AppServiceRegistration so the file is what homeservers expect.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { AppServiceRegistration } from 'matrix-appservice-bridge';

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

export interface NewRegistration {
  url: string;
  senderLocalpart: string;
  /** Regexes of the exclusive user namespace (ghosts) and alias namespace (portals). */
  userRegexes: string[];
  aliasRegexes: string[];
}

/** Writes a registration with fresh random tokens (file mode 0600: it holds secrets). */
export function writeRegistration(path: string, r: NewRegistration): void {
  const reg = new AppServiceRegistration(r.url);
  reg.setId(AppServiceRegistration.generateToken());
  reg.setHomeserverToken(AppServiceRegistration.generateToken());
  reg.setAppServiceToken(AppServiceRegistration.generateToken());
  reg.setSenderLocalpart(r.senderLocalpart);
  reg.setRateLimited(false);
  reg.setProtocols(['irc']);
  reg.pushEphemeral = true;
  for (const re of r.userRegexes) {
    reg.addRegexPattern('users', re, true);
  }
  for (const re of r.aliasRegexes) {
    reg.addRegexPattern('aliases', re, true);
  }
  // The stable key of MSC2409 next to the one matrix-appservice-bridge writes.
  const out = { ...reg.getOutput(), receive_ephemeral: true };
  writeFileSync(path, yaml.dump(out), { mode: 0o600 });
  chmodSync(path, 0o600);
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
  if (problems.length > 0) {
    throw new RegistrationError(problems, path);
  }
  const reg = AppServiceRegistration.fromObject(o as never);
  return {
    id: o.id as string,
    hsToken: o.hs_token as string,
    asToken: o.as_token as string,
    url: (o.url as string | null | undefined) ?? null,
    senderLocalpart: o.sender_localpart as string,
    rateLimited: typeof o.rate_limited === 'boolean' ? o.rate_limited : undefined,
    isUserMatch: (u, ex) => reg.isUserMatch(u, ex),
    isAliasMatch: (a, ex) => reg.isAliasMatch(a, ex),
  };
}
