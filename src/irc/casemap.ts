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

const FOLD_TABLES = new Map<CaseMapping, Uint8Array>();

/** A byte -> folded byte table for `mapping`, for comparing names in raw Latin-1 bytes. */
export function foldTable(mapping: CaseMapping): Uint8Array {
  let table = FOLD_TABLES.get(mapping);
  if (!table) {
    table = new Uint8Array(256);
    const max = UPPER_MAX[mapping];
    for (let c = 0; c < 256; c++) {
      table[c] = lower(c, max);
    }
    FOLD_TABLES.set(mapping, table);
  }
  return table;
}
