/**
 * Storing and forgetting a Matrix user's IRC credentials, for the admin room's commands. Each
 * function checks its input, answers with an outcome the user can be shown, and never puts a
 * secret in that answer or in a log line. Called once per command; may reconnect the user's
 * puppet on that network so the new credentials take effect.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { NetworkId, UserId } from '../ids';
import type { IrcCredentials, Store } from '../store/store';

export type CredentialsOutcome =
  /** `reconnected`: the user's puppet was connected and reconnects to identify. */
  | { ok: true; reconnected: boolean }
  | { ok: false; reason: string };

/** What the functions need of the bridge: the store and, per network id, its puppets. */
export interface CredentialsHost {
  store: Store;
  networks: ReadonlyMap<string, { puppets: { reidentify(userId: UserId): Promise<boolean> } }>;
}

export interface CredentialsInput {
  account?: string | null;
  password?: string | null;
  /** PEM text of a certificate and its private key (SASL EXTERNAL / CertFP). */
  clientCert?: { certificate: string; privateKey: string } | null;
}

const MAX_ACCOUNT = 64;
const MAX_PASSWORD = 300;

/** Null when the input can be stored, else why not (in words for the user). */
export function credentialsProblem(input: CredentialsInput): string | null {
  const { account = null, password = null, clientCert = null } = input;
  if (account !== null && (!/^[^\s\x00-\x1f\x7f]+$/.test(account) || account.length > MAX_ACCOUNT)) {
    return `the account name must be 1-${MAX_ACCOUNT} characters without spaces or control characters`;
  }
  if (password !== null && (password === '' || /[\r\n\0]/.test(password) || password.length > MAX_PASSWORD)) {
    return `the password must be 1-${MAX_PASSWORD} characters without line breaks or NUL`;
  }
  if (password === null && clientCert === null) {
    return 'give a password or a client certificate';
  }
  if (clientCert !== null) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(clientCert.certificate);
    } catch {
      return 'the client certificate is not a PEM certificate';
    }
    try {
      if (!cert.checkPrivateKey(createPrivateKey(clientCert.privateKey))) {
        return 'the private key does not belong to the client certificate';
      }
    } catch {
      return 'the private key is not a PEM private key without a passphrase';
    }
  }
  return null;
}

/** Stores the user's credentials for `network` (replacing earlier ones) and reconnects their
 *  puppet there, if it is connected, so it identifies with them. */
export async function storeIrcCredentials(host: CredentialsHost, userId: UserId, network: string,
  input: CredentialsInput): Promise<CredentialsOutcome> {
  const net = host.networks.get(network);
  if (!net) {
    return { ok: false, reason: unknownNetwork(host, network) };
  }
  const problem = credentialsProblem(input);
  if (problem !== null) {
    return { ok: false, reason: problem };
  }
  const creds: IrcCredentials = { account: input.account ?? null, password: input.password ?? null,
    clientCert: input.clientCert ?? null };
  host.store.setCredentials(userId, network as NetworkId, creds);
  return { ok: true, reconnected: await net.puppets.reidentify(userId).catch(() => false) };
}

/** Forgets the user's credentials for `network`; the current connection stays as it is. */
export function removeIrcCredentials(host: CredentialsHost, userId: UserId, network: string): CredentialsOutcome {
  if (!host.networks.has(network)) {
    return { ok: false, reason: unknownNetwork(host, network) };
  }
  return host.store.removeCredentials(userId, network as NetworkId)
    ? { ok: true, reconnected: false }
    : { ok: false, reason: `no credentials are stored for ${network}` };
}

function unknownNetwork(host: CredentialsHost, network: string): string {
  const known = [...host.networks.keys()].sort().join(', ');
  return `there is no IRC network "${network.replace(/[^\x21-\x7e]/g, '?').slice(0, 40)}" (known: ${known})`;
}
