/** The self-signed client certificate made for !certfp. */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprintOf, makeClientCertificate } from '../../src/bridge/client-cert';

describe('client certificates for CertFP', () => {
  test('a valid self-signed certificate for the key, ten years long, with the SHA-256 fingerprint', () => {
    const now = new Date('2026-11-27T10:00:00Z');
    const c = makeClientCertificate('@alice:example.org', now);
    const x = new X509Certificate(c.certificate);
    expect(x.subject).toBe('CN=@alice:example.org');
    expect(x.issuer).toBe(x.subject);
    expect(new Date(x.validFrom).toISOString()).toBe('2026-11-27T10:00:00.000Z');
    expect(new Date(x.validTo).toISOString()).toBe('2036-11-27T10:00:00.000Z');
    expect(x.checkPrivateKey(createPrivateKey(c.privateKey))).toBe(true);
    expect(x.verify(x.publicKey)).toBe(true);
    expect(c.fingerprint).toBe(x.fingerprint256);
    expect(c.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(fingerprintOf(c.certificate)).toBe(c.fingerprint);
  });

  test('every call makes a new key; long or odd names are cut, not refused', () => {
    const a = makeClientCertificate('@a:hs');
    const b = makeClientCertificate('@a:hs');
    expect(a.fingerprint).not.toBe(b.fingerprint);
    const long = new X509Certificate(makeClientCertificate(`@${'é'.repeat(100)}:hs`).certificate);
    expect(long.subject.length).toBeLessThanOrEqual(70);
  });

  const openssl = ['/usr/bin/openssl', '/bin/openssl'].find((p) => existsSync(p));
  (openssl ? test : test.skip)('openssl reads it and agrees on the fingerprint', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mib-cert-'));
    try {
      const c = makeClientCertificate('@alice:example.org');
      writeFileSync(join(dir, 'c.pem'), c.certificate);
      const out = execFileSync(openssl as string, ['x509', '-in', join(dir, 'c.pem'), '-noout', '-fingerprint', '-sha256'],
        { encoding: 'utf8' });
      expect(out.trim()).toMatch(new RegExp(`=${c.fingerprint}$`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
