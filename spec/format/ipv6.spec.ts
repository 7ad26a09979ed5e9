import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { addressInPrefix, inIpv6Prefix, parseIpv6Prefix } from '../../src/format/ipv6';

const seed = (s: string): Buffer => createHash('sha256').update(s).digest();

describe('parseIpv6Prefix', () => {
  test.each([
    { input: '2001:db8:1::/64', bits: 64, net: '2001:db8:1::' },
    { input: '2001:db8:1:2:3:4:5:6/64', bits: 64, net: '2001:db8:1:2::' },
    { input: '2001:DB8::/32', bits: 32, net: '2001:db8::' },
    { input: 'fd00::/8', bits: 8, net: 'fd00::' },
    { input: '2001:db8::1/128', bits: 128, net: '2001:db8::1' },
    { input: '2001:db8:aaaa:bbbb::/60', bits: 60, net: '2001:db8:aaaa:bbb0::' },
    { input: '::/0', bits: 0, net: '::' },
  ])('$input', ({ input, bits, net }) => {
    const p = parseIpv6Prefix(input);
    expect(p?.bits).toBe(bits);
    expect(addressInPrefix(p as never, new Uint8Array(16))).toBe(net);
  });

  test.each(['2001:db8::', '2001:db8::/129', '10.0.0.0/8', '2001:db8::/-1', 'garbage/64', '2001:db8:::/64', ''])(
    'rejects %j', (input) => {
      expect(parseIpv6Prefix(input)).toBeNull();
    });
});

describe('addressInPrefix', () => {
  const users = Array.from({ length: 200 }, (_, i) => `@user${i}:example.org`);

  test.each(['2001:db8:1::/64', '2001:db8::/48', 'fd12:3456:789a:1::/96', '2001:db8:aaaa:bbbb::/60'])(
    'in %s: stable, inside the prefix, different per user', (cidr) => {
      const p = parseIpv6Prefix(cidr);
      expect(p).not.toBeNull();
      const prefix = p as NonNullable<typeof p>;
      const addrs = users.map((u) => addressInPrefix(prefix, seed(u)));
      for (const [i, a] of addrs.entries()) {
        expect(isIPv6(a)).toBe(true);
        expect(inIpv6Prefix(prefix, a)).toBe(true);
        expect(addressInPrefix(prefix, seed(users[i] as string))).toBe(a);
      }
      expect(new Set(addrs).size).toBe(users.length);
    });

  test('the host part comes from the seed; the network part from the prefix', () => {
    const p = parseIpv6Prefix('2001:db8:1:2::/64') as NonNullable<ReturnType<typeof parseIpv6Prefix>>;
    const s = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    expect(addressInPrefix(p, s)).toBe('2001:db8:1:2:8899:aabb:ccdd:eeff');
    expect(inIpv6Prefix(p, '2001:db8:1:3::1')).toBe(false);
  });

  test('formats with :: for the longest zero run only', () => {
    const p = parseIpv6Prefix('2001:0:0:1::/64') as NonNullable<ReturnType<typeof parseIpv6Prefix>>;
    expect(addressInPrefix(p, new Uint8Array(16).fill(0))).toBe('2001:0:0:1::');
  });
});
