/**
 * IPv6 prefixes and the address a Matrix user gets inside one. Pure: the caller hashes the user
 * ID and hands the bytes in.
 */
import { isIPv6 } from 'node:net';

export interface Ipv6Prefix {
  /** The 16 bytes of the network address (host bits cleared). */
  bytes: Uint8Array;
  /** Prefix length, 0..128. */
  bits: number;
}

/** `2001:db8:1::/64` -> the prefix; null when it is not an IPv6 CIDR prefix. */
export function parseIpv6Prefix(text: string): Ipv6Prefix | null {
  const m = /^([0-9A-Fa-f:.]+)\/(\d{1,3})$/.exec(text);
  if (!m || !isIPv6(m[1] as string)) {
    return null;
  }
  const bits = Number(m[2]);
  if (bits > 128) {
    return null;
  }
  const bytes = ipv6Bytes(m[1] as string);
  for (let i = 0; i < 16; i++) {
    bytes[i] = (bytes[i] as number) & maskByte(bits, i);
  }
  return { bytes, bits };
}

/** The address in `prefix` whose host bits are taken from `seed` (at least 16 bytes). Stable for
 *  a given seed; differs between seeds in the host bits. */
export function addressInPrefix(prefix: Ipv6Prefix, seed: Uint8Array): string {
  if (seed.length < 16) {
    throw new Error('addressInPrefix: seed must be at least 16 bytes');
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const mask = maskByte(prefix.bits, i);
    out[i] = ((prefix.bytes[i] as number) & mask) | ((seed[i] as number) & ~mask & 0xff);
  }
  return formatIpv6(out);
}

/** True when `address` lies inside `prefix`. */
export function inIpv6Prefix(prefix: Ipv6Prefix, address: string): boolean {
  if (!isIPv6(address)) {
    return false;
  }
  const b = ipv6Bytes(address);
  return b.every((v, i) => (v & maskByte(prefix.bits, i)) === prefix.bytes[i]);
}

function maskByte(bits: number, i: number): number {
  const left = bits - i * 8;
  return left >= 8 ? 0xff : left <= 0 ? 0 : (0xff << (8 - left)) & 0xff;
}

function ipv6Bytes(text: string): Uint8Array {
  let s = text;
  // A trailing dotted quad (::ffff:1.2.3.4) becomes two hex groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    s = s.slice(0, v4.index) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16);
  }
  const [head, tail] = s.includes('::') ? s.split('::') as [string, string] : [s, null];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === null ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

function formatIpv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) {
    groups.push(((b[i] as number) << 8) | (b[i + 1] as number));
  }
  // RFC 5952: the longest run (of at least two) of zero groups becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) {
      j++;
    }
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) {
    return hex.join(':');
  }
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}
