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
  let out = '';
  let changed = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x41 && c <= max) {
      out += String.fromCharCode(c + 0x20);
      changed = true;
    } else {
      out += s[i];
    }
  }
  return changed ? out : s;
}
