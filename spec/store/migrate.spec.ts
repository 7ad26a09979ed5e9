import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { migrate, readMigrations, type Migration } from '../../src/store/migrate';

const userVersion = (db: Database.Database): number => db.pragma('user_version', { simple: true }) as number;
const tableNames = (db: Database.Database): string[] =>
  (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .all() as Array<{ name: string }>).map((r) => r.name);

describe('the shipped migrations', () => {
  let db: Database.Database;
  beforeEach(() => {
    db = new Database(':memory:');
  });
  afterEach(() => db.close());

  test('are numbered 1..n without gaps and all have SQL', () => {
    const migrations = readMigrations();
    expect(migrations.length).toBeGreaterThan(0);
    expect(migrations.map((m) => m.version)).toEqual(migrations.map((_, i) => i + 1));
    for (const m of migrations) {
      expect(m.sql.trim()).not.toBe('');
      expect(m.name).toMatch(/^[a-z0-9-]+$/);
    }
  });

  test('all apply to an empty database and user_version equals their count', () => {
    const migrations = readMigrations();
    expect(userVersion(db)).toBe(0);
    expect(migrate(db, migrations)).toEqual(migrations.map((m) => m.version));
    expect(userVersion(db)).toBe(migrations.length);
    expect(tableNames(db)).toEqual(expect.arrayContaining(
      ['ghosts', 'inbound_events', 'matrix_members', 'processed_txns', 'puppets', 'room_mappings']));
  });

  test('migrate() defaults to the shipped directory', () => {
    expect(migrate(db)).toEqual(readMigrations().map((m) => m.version));
  });

  test('a second run applies nothing and changes nothing', () => {
    migrate(db);
    const before = tableNames(db);
    expect(migrate(db)).toEqual([]);
    expect(tableNames(db)).toEqual(before);
    expect(userVersion(db)).toBe(readMigrations().length);
  });

  test('a database newer than the code is refused and left untouched', () => {
    const latest = readMigrations().length;
    db.pragma(`user_version = ${latest + 1}`);
    expect(() => migrate(db)).toThrow(/newer than this bridge knows/);
    expect(userVersion(db)).toBe(latest + 1);
    expect(tableNames(db)).toEqual([]);
  });
});

describe('migrate with hand-made migrations', () => {
  let db: Database.Database;
  beforeEach(() => {
    db = new Database(':memory:');
  });
  afterEach(() => db.close());

  const m = (version: number, sql: string): Migration => ({ version, name: `m${version}`, sql });

  test('applies only the migrations newer than user_version', () => {
    migrate(db, [m(1, 'CREATE TABLE a (x INTEGER);')]);
    expect(migrate(db, [m(1, 'CREATE TABLE a (x INTEGER);'), m(2, 'CREATE TABLE b (y INTEGER);')])).toEqual([2]);
    expect(tableNames(db)).toEqual(['a', 'b']);
    expect(userVersion(db)).toBe(2);
  });

  test('a failing migration rolls back whole and leaves the earlier ones applied', () => {
    const migrations = [
      m(1, 'CREATE TABLE a (x INTEGER);'),
      m(2, 'CREATE TABLE b (y INTEGER); INSERT INTO missing_table VALUES (1);'),
    ];
    expect(() => migrate(db, migrations)).toThrow(/missing_table/);
    expect(userVersion(db)).toBe(1);
    expect(tableNames(db)).toEqual(['a']);
  });

  test('an empty list on an empty database is a no-op', () => {
    expect(migrate(db, [])).toEqual([]);
    expect(userVersion(db)).toBe(0);
  });
});

describe('readMigrations', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mib-migrations-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (files: Record<string, string>): void => {
    for (const [name, sql] of Object.entries(files)) {
      writeFileSync(join(dir, name), sql);
    }
  };

  test('reads NNN-name.sql files in version order with name and SQL', () => {
    write({ '002-second.sql': 'SELECT 2;', '001-first.sql': 'SELECT 1;' });
    expect(readMigrations(dir)).toEqual([
      { version: 1, name: 'first', sql: 'SELECT 1;' },
      { version: 2, name: 'second', sql: 'SELECT 2;' },
    ]);
  });

  test.each([
    { name: 'a gap', files: ['001-a.sql', '003-b.sql'], error: /expected version 2, found 3/ },
    { name: 'a duplicate number', files: ['001-a.sql', '001-b.sql'], error: /expected version 2, found 1/ },
    { name: 'no version 1', files: ['002-a.sql'], error: /expected version 1, found 2/ },
  ])('rejects $name', ({ files, error }) => {
    write(Object.fromEntries(files.map((f) => [f, 'SELECT 1;'])));
    expect(() => readMigrations(dir)).toThrow(error);
  });

  test.each(['README.md', '1-short.sql', '001-Upper.sql', '001_underscore.sql', '001-a.sql.bak', '0001-long.sql'])(
    'ignores %s', (file) => {
      write({ [file]: 'garbage', '001-real.sql': 'SELECT 1;' });
      expect(readMigrations(dir).map((x) => x.name)).toEqual(['real']);
    });

  test('an empty directory gives no migrations', () => {
    expect(readMigrations(dir)).toEqual([]);
  });
});
