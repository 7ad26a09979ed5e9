/**
 * Writing a new registration file (`-r`). Uses matrix-appservice-bridge's
 * AppServiceRegistration so the file is what homeservers expect. Kept apart from
 * registration.ts because that library takes about a second to load: only `-r` pays for it,
 * not every start of the bridge.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { AppServiceRegistration } from 'matrix-appservice-bridge';

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
