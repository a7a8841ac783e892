import { createPostgresStore, type PostgresOptions } from './postgres/index.js';
import { createSqliteStore, type SqliteOptions } from './sqlite/index.js';
import type { Store } from './ports.js';

export type * from './ports.js';
export type * from './measure-reads.js';
export { createPostgresStore } from './postgres/index.js';
export { createSqliteStore } from './sqlite/index.js';

/** Opens a store from a URL: postgres://… or postgresql://… for PostgreSQL, else a SQLite file path (optionally sqlite:path). */
export function openStore(url: string, opts: PostgresOptions & SqliteOptions = {}): Store {
  if (/^postgres(ql)?:\/\//.test(url)) return createPostgresStore(url, opts);
  return createSqliteStore(url.replace(/^sqlite:(\/\/)?/, ''), opts);
}
