/**
 * Reading and validating the config file. Both entry points either return a complete, deeply
 * frozen `Config` or throw one `ConfigError` that lists every problem found.
 */
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { configSchema } from './definition';
import { INVALID, type Infer } from './schema';

export type Config = Infer<typeof configSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: string[];

  /** `source` (a file path) prefixes the message when the problems come from a file. */
  constructor(problems: readonly string[], source?: string) {
    const where = source ? ` in ${source}` : '';
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(`Invalid configuration${where} (${count}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = [...problems];
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) {
      deepFreeze(child);
    }
  }
  return value;
}

/** Validates an already-parsed document (null or undefined count as empty) and applies defaults. */
export function parseConfig(raw: unknown): Config {
  const problems: string[] = [];
  const config = configSchema.parse(raw ?? {}, { path: '', key: '', problems });
  if (config === INVALID || problems.length > 0) {
    throw new ConfigError(problems.length > 0 ? problems : ['config: invalid']);
  }
  return deepFreeze(config);
}

function readProblem(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'file not found';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

export function loadConfig(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err: unknown) {
    throw new ConfigError([`cannot read ${path}: ${readProblem(err)}`], path);
  }
  let raw: unknown;
  try {
    raw = yaml.load(text, { schema: yaml.CORE_SCHEMA, filename: path });
  } catch (err: unknown) {
    if (err instanceof yaml.YAMLException) {
      const { line, column } = err.mark;
      throw new ConfigError([`YAML syntax error at line ${line + 1}, column ${column + 1}: ${err.reason}`], path);
    }
    throw err;
  }
  try {
    return parseConfig(raw);
  } catch (err: unknown) {
    throw err instanceof ConfigError ? new ConfigError(err.problems, path) : err;
  }
}
