/**
 * Building outgoing IRC lines. Every parameter is checked here, once, for the three bytes that
 * would let user input end the line or inject another command (CR, LF, NUL). Callers sanitise
 * user text earlier (format/split.ts); reaching the throw below is a programming fault.
 */
const FORBIDDEN = /[\r\n\0]/;

export class UnsafeLineError extends Error {
  constructor(command: string) {
    super(`refusing to send ${command}: a parameter contains CR, LF or NUL`);
    this.name = 'UnsafeLineError';
  }
}

/** `buildLine('PRIVMSG', ['#chan', 'hello world'])` -> `PRIVMSG #chan :hello world`. */
export function buildLine(command: string, params: readonly string[], tags?: Record<string, string>): string {
  if (!/^[A-Za-z]+$|^\d{3}$/.test(command)) {
    throw new UnsafeLineError(command.replace(/[^\x21-\x7e]/g, '?'));
  }
  for (const [k, v] of Object.entries(tags ?? {})) {
    if (!/^\+?([A-Za-z0-9.-]+\/)?[A-Za-z0-9-]+$/.test(k) || v.includes('\0')) {
      throw new UnsafeLineError(command);
    }
  }
  for (const p of params) {
    if (FORBIDDEN.test(p)) {
      throw new UnsafeLineError(command);
    }
  }
  for (let i = 0; i < params.length - 1; i++) {
    const p = params[i] as string;
    if (p === '' || p.includes(' ') || p.startsWith(':')) {
      throw new Error(`refusing to send ${command}: middle parameter ${i + 1} is empty or has a space`);
    }
  }
  let line = command;
  params.forEach((p, i) => {
    const last = i === params.length - 1;
    line += last && (p === '' || p.includes(' ') || p.startsWith(':')) ? ` :${p}` : ` ${p}`;
  });
  if (tags && Object.keys(tags).length > 0) {
    line = '@' + Object.entries(tags).map(([k, v]) => (v === '' ? k : `${k}=${escapeTagValue(v)}`)).join(';') + ' ' + line;
  }
  return line;
}

function escapeTagValue(v: string): string {
  return v.replace(/[\\; \r\n]/g, (c) => ({ '\\': '\\\\', ';': '\\:', ' ': '\\s', '\r': '\\r', '\n': '\\n' })[c] ?? '');
}
