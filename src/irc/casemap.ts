/**
 * IRC case folding. The server announces its rule in ISUPPORT CASEMAPPING; until it does,
 * rfc1459 is the safe assumption (it folds more than ascii does).
 */
export type CaseMapping = 'ascii' | 'rfc1459' | 'strict-rfc1459';

const UPPER_MAX: Record<CaseMapping, number> = {
  ascii: 0x5a, // Z
  'strict-rfc1459': 0x5d, // ] ([\] -> {|})
  rfc1459: 0x5e, // ^ (also ^ -> ~)
};

export function parseCaseMapping(value: string | undefined): CaseMapping {
  const v = (value ?? '').toLowerCase();
  return v === 'ascii' || v === 'strict-rfc1459' ? v : 'rfc1459';
}

/** Folds `s` to lower case under `mapping`; two names are the same when their folds are equal. */
export function ircFold(s: string, mapping: CaseMapping = 'rfc1459'): string {
  const max = UPPER_MAX[mapping];
  let first = 0;
  while (first < s.length) { // most names are already folded: find the first upper-case one
    const c = s.charCodeAt(first);
    if (c >= 0x41 && c <= max) {
      break;
    }
    first++;
  }
  if (first === s.length) {
    return s;
  }
  let out = s.slice(0, first);
  for (let i = first; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c >= 0x41 && c <= max ? String.fromCharCode(c + 0x20) : s[i];
  }
  return out;
}

/** A character code folded to lower case under the mapping whose upper-case range ends at `max`. */
const lower = (c: number, max: number): number => (c >= 0x41 && c <= max ? c + 0x20 : c);

/** Whether the Latin-1 bytes buf[start, end) name `name` under `mapping` (no string is made). */
export function ircEqualsBytes(buf: Uint8Array, start: number, end: number, name: string, mapping: CaseMapping = 'rfc1459'): boolean {
  if (end - start !== name.length) {
    return false; // folding never changes a length
  }
  const max = UPPER_MAX[mapping];
  for (let i = 0; i < name.length; i++) {
    const x = buf[start + i] as number;
    if (x !== name.charCodeAt(i) && lower(x, max) !== lower(name.charCodeAt(i), max)) {
      return false;
    }
  }
  return true;
}

/** Whether `a` and `b` name the same thing under `mapping`, without building folded strings. */
export function ircEquals(a: string, b: string, mapping: CaseMapping = 'rfc1459'): boolean {
  if (a.length !== b.length) {
    return false; // folding never changes a length
  }
  const max = UPPER_MAX[mapping];
  for (let i = 0; i < a.length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y && lower(x, max) !== lower(y, max)) {
      return false;
    }
  }
  return true;
}
