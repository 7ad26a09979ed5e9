import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const FILE = /^(\d{3})-([a-z0-9-]+)\.sql$/;

/** Reads `NNN-name.sql` files in version order; a gap or a duplicate number is a fault. */
export function readMigrations(dir: string = join(__dirname, 'migrations')): Migration[] {
  const migrations = readdirSync(dir)
    .map((file) => ({ file, m: FILE.exec(file) }))
    .filter((x): x is { file: string; m: RegExpExecArray } => x.m !== null)
    .map(({ file, m }) => ({ version: Number(m[1]), name: m[2] ?? file, sql: readFileSync(join(dir, file), 'utf8') }))
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new Error(`store migrations: expected version ${i + 1}, found ${m.version} (${m.name})`);
    }
  });
  return migrations;
}

/**
 * Applies every migration newer than the database's `user_version`, each in its own
 * transaction. Called once at start, before anything else touches the database.
 * Returns the versions applied.
 */
export function migrate(db: Database.Database, migrations: Migration[] = readMigrations()): number[] {
  const current = db.pragma('user_version', { simple: true }) as number;
  const latest = migrations.length;
  if (current > latest) {
    throw new Error(`store: database schema version ${current} is newer than this bridge knows (${latest}); ` +
      'refusing to start with an older release');
  }
  const applied: number[] = [];
  for (const m of migrations.filter((x) => x.version > current)) {
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    })();
    applied.push(m.version);
  }
  return applied;
}
