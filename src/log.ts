/**
 * Structured logging. Messages are constant strings; variable data goes in fields
 * (`room_id`, `user_id`, `network`, `nick`, `txn_id`). Fields whose names look like secrets are
 * replaced before anything is written, so a token or password can never reach a log line.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'json' | 'text';
export type LogFields = Record<string, unknown>;

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_KEY = /token|password|passwd|secret|sasl|authorization|cookie|private_?key|credential|client_?cert/i;

export interface LogSink {
  write(line: string): void;
}

interface LogSettings {
  level: LogLevel;
  format: LogFormat;
  sink: LogSink;
}

const settings: LogSettings = {
  level: 'info',
  format: 'text',
  sink: { write: (line) => process.stderr.write(line + '\n') },
};

/** Called once by main.ts (and by tests that capture logs). */
export function configureLogging(opts: Partial<LogSettings>): void {
  Object.assign(settings, opts);
}

function scrub(value: unknown, depth = 0): unknown {
  if (value instanceof Error) {
    return { name: value.name, message: value.message, stack: value.stack };
  }
  if (value === null || typeof value !== 'object' || depth > 3) {
    return value;
  }
  if (Array.isArray(value)) {
    return value.map((v) => scrub(v, depth + 1));
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = SECRET_KEY.test(k) ? '[redacted]' : scrub(v, depth + 1);
  }
  return out;
}

function textValue(v: unknown): string {
  if (typeof v === 'string') {
    return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  }
  return JSON.stringify(v);
}

export class Logger {
  constructor(
    private readonly module: string,
    private readonly fields: LogFields = {},
  ) {}

  /** A logger that adds `fields` to every line it writes. */
  child(fields: LogFields): Logger {
    return new Logger(this.module, { ...this.fields, ...fields });
  }

  debug(msg: string, fields?: LogFields): void {
    this.write('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.write('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.write('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.write('error', msg, fields);
  }

  isDebug(): boolean {
    return ORDER[settings.level] <= ORDER.debug;
  }

  private write(level: LogLevel, msg: string, fields?: LogFields): void {
    if (ORDER[level] < ORDER[settings.level]) {
      return;
    }
    const all = scrub({ ...this.fields, ...fields }) as LogFields;
    const time = new Date().toISOString();
    if (settings.format === 'json') {
      settings.sink.write(JSON.stringify({ time, level, module: this.module, msg, ...all }));
      return;
    }
    const rest = Object.entries(all)
      .map(([k, v]) => `${k}=${textValue(v)}`)
      .join(' ');
    settings.sink.write(`${time} ${level.toUpperCase().padEnd(5)} [${this.module}] ${msg}${rest ? ' ' + rest : ''}`);
  }
}

export function getLogger(module: string, fields?: LogFields): Logger {
  return new Logger(module, fields);
}
