/**
 * Channel MODE lines, parsed with the server's own rules (ISUPPORT PREFIX and CHANMODES):
 * which letters take a parameter, and which are a member's status (op, voice).
 */
export interface ModeChange {
  adding: boolean;
  mode: string;
  param: string | null;
  /** prefix: a member's status (+o nick); list: +b/+e/+I masks; setting: +k/+l; flag: +m/+t. */
  kind: 'prefix' | 'list' | 'setting' | 'flag';
}

export interface ModeRules {
  /** Status modes in the server's order, highest first: [{ mode: 'o', symbol: '@' }, ...]. */
  prefix: ReadonlyArray<{ mode: string; symbol: string }>;
  /** CHANMODES=A,B,C,D: list modes, always-parameter, parameter-when-set, never-parameter. */
  chanmodes: readonly string[];
}

export const DEFAULT_CHANMODES = ['beI', 'k', 'l', 'imnpst'];

/** `MODE #chan +ob-v alice *!*@host bob` -> one change per letter, each with its parameter. */
export function parseModeChanges(modes: string, args: readonly string[], rules: ModeRules): ModeChange[] {
  const [list = '', always = '', whenSet = ''] = rules.chanmodes;
  const out: ModeChange[] = [];
  let adding = true;
  let next = 0;
  for (const c of modes) {
    if (c === '+' || c === '-') {
      adding = c === '+';
      continue;
    }
    let kind: ModeChange['kind'];
    let takesParam: boolean;
    if (rules.prefix.some((p) => p.mode === c)) {
      kind = 'prefix';
      takesParam = true;
    } else if (list.includes(c)) {
      kind = 'list';
      takesParam = true;
    } else if (always.includes(c)) {
      kind = 'setting';
      takesParam = true;
    } else if (whenSet.includes(c)) {
      kind = 'setting';
      takesParam = adding;
    } else {
      kind = 'flag';
      takesParam = false;
    }
    const param = takesParam ? (args[next++] ?? null) : null;
    out.push({ adding, mode: c, param, kind });
  }
  return out;
}

/** The status symbols that can kick and set modes: operator (`o`) and everything above it. */
export function operatorSymbols(prefix: ModeRules['prefix']): string {
  const i = prefix.findIndex((p) => p.mode === 'o');
  return i < 0 ? '' : prefix.slice(0, i + 1).map((p) => p.symbol).join('');
}
