/**
 * A self-signed client certificate for one Matrix user (for SASL EXTERNAL / CertFP): an EC
 * P-256 key and an X.509 v3 certificate signed with it (ECDSA with SHA-256), valid for ten
 * years. IRC services only look at its SHA-256 fingerprint, so nothing more is needed. Node has
 * no API to write certificates, hence the small DER encoder below.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';

export interface ClientCertificate {
  certificate: string; // PEM
  privateKey: string; // PEM (PKCS#8)
  /** SHA-256 of the DER certificate, upper-case hex pairs joined by ':' as IRC services show it. */
  fingerprint: string;
}

function der(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const len = n < 0x80 ? Buffer.from([n])
    : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, content]);
}

const seq = (...parts: Buffer[]): Buffer => der(0x30, Buffer.concat(parts));

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * a + b];
  for (const v of rest) {
    const chunk = [v & 0x7f];
    for (let x = v >> 7; x > 0; x >>= 7) {
      chunk.unshift((x & 0x7f) | 0x80);
    }
    bytes.push(...chunk);
  }
  return der(0x06, Buffer.from(bytes));
}

/** GeneralizedTime, valid for any year. */
const time = (d: Date): Buffer => der(0x18, Buffer.from(d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'));

/** A name with one common name. */
const name = (cn: string): Buffer => seq(der(0x31, seq(oid('2.5.4.3'), der(0x0c, Buffer.from(cn, 'utf8')))));

/** Makes a key and a certificate whose common name is `commonName` (at most 64 characters). */
export function makeClientCertificate(commonName: string, now = new Date()): ClientCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const ecdsaWithSha256 = seq(oid('1.2.840.10045.4.3.2'));
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f; // a positive INTEGER
  const until = new Date(now.getTime());
  until.setUTCFullYear(until.getUTCFullYear() + 10);
  const cn = commonName.slice(0, 64) || 'matrix-irc-bridge user';
  const tbs = seq(
    der(0xa0, der(0x02, Buffer.from([2]))), // version v3
    der(0x02, serial),
    ecdsaWithSha256,
    name(cn),
    seq(time(now), time(until)),
    name(cn),
    publicKey.export({ type: 'spki', format: 'der' }),
  );
  const signature = sign('sha256', tbs, privateKey);
  const certDer = seq(tbs, ecdsaWithSha256, der(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const certificate = `-----BEGIN CERTIFICATE-----\n${certDer.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`;
  new X509Certificate(certificate); // throws if the encoding above were ever wrong
  return {
    certificate,
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    fingerprint: fingerprintOf(certificate),
  };
}

/** The SHA-256 fingerprint of a PEM certificate, as AA:BB:... */
export function fingerprintOf(certificatePem: string): string {
  const raw = new X509Certificate(certificatePem).raw;
  return createHash('sha256').update(raw).digest('hex').toUpperCase().match(/../g)?.join(':') ?? '';
}
